import './mock-vscode';
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { refreshHandler } from '../inline';

test('a refresh asks VS Code for inline completions again, for the active document only', () => {
    let triggered = 0;
    let active: string | undefined = 'file:///p/app.py';
    const handle = refreshHandler(() => active, async () => { triggered += 1; });
    handle({ uri: 'file:///p/app.py' });
    assert.equal(triggered, 1);
    handle({ uri: 'file:///p/other.py' }); // the user is elsewhere: nothing to refresh
    handle({});
    handle(null);
    assert.equal(triggered, 1);
    active = undefined;
    handle({ uri: 'file:///p/app.py' });
    assert.equal(triggered, 1);
});
