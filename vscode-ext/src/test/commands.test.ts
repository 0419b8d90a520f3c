import { mock } from './mock-vscode';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { describeSearch, formatStats, generateFunction, registerCommands, RequestClient, showStats, toggleGuides } from '../commands';

beforeEach(() => mock.reset());

const GLOBAL = 1;
const WORKSPACE = 2;

/** A client that records its requests and answers each with `answer`. */
function fakeClient(answer: unknown) {
    const sent: { method: string; params: unknown }[] = [];
    const client: RequestClient = {
        sendRequest: async (method, params) => {
            sent.push({ method, params });
            return answer;
        },
    };
    return { client, sent };
}

function editor(languageId = 'python', line = 12, character = 4) {
    mock.activeTextEditor = {
        document: { uri: { toString: () => 'file:///ws/shapes.py' }, languageId },
        selection: { active: { line, character } },
    };
}

test('toggleGuides turns the default-on guides (healing, monitors, nameChoice) off, in user settings', async () => {
    assert.equal(await toggleGuides(), false);
    assert.deepEqual(mock.updates, [
        { key: 'guidecode.guides.healing', value: false, target: GLOBAL },
        { key: 'guidecode.guides.monitors', value: false, target: GLOBAL },
        { key: 'guidecode.guides.nameChoice', value: false, target: GLOBAL },
    ]);
});

test('toggleGuides switches every guide together: mixed becomes all on, all on becomes all off', async () => {
    mock.settings.set('guidecode.guides.healing', false);
    assert.equal(await toggleGuides(), true);
    assert.equal(mock.settings.get('guidecode.guides.healing'), true);
    assert.equal(mock.settings.get('guidecode.guides.monitors'), true);
    assert.equal(await toggleGuides(), false);
    assert.equal(mock.settings.get('guidecode.guides.healing'), false);
    assert.equal(mock.settings.get('guidecode.guides.monitors'), false);
    assert.equal(mock.settings.get('guidecode.guides.nameChoice'), false);
    assert.equal(mock.updates.length, 6); // the three guides the options schema declares, twice
});

test('toggleGuides writes to the workspace when the workspace sets the guide', async () => {
    mock.settings.set('guidecode.guides.healing', true);
    mock.workspaceSettings.add('guidecode.guides.healing');
    await toggleGuides();
    assert.deepEqual(mock.updates, [
        { key: 'guidecode.guides.healing', value: false, target: WORKSPACE },
        { key: 'guidecode.guides.monitors', value: false, target: GLOBAL },
        { key: 'guidecode.guides.nameChoice', value: false, target: GLOBAL },
    ]);
});

test('generate asks the server for the function at the cursor of the active editor', async () => {
    editor('python', 12, 4);
    const { client, sent } = fakeClient({ applied: true, text: '    return 1\n' });
    const result = await generateFunction(() => client);
    assert.deepEqual(sent, [{
        method: 'workspace/executeCommand',
        params: {
            command: 'guidecode.generate',
            arguments: [{ uri: 'file:///ws/shapes.py', position: { line: 12, character: 4 } }],
        },
    }]);
    assert.deepEqual(result, { applied: true, text: '    return 1\n' });
    assert.deepEqual(mock.messages, []);
});

test('generate says which tests the searched body passes', async () => {
    editor('python', 12, 4);
    const search = { rollouts: 3, stopped: 'rollouts', passed: ['f(1) == 2'], failed: ['test_big'] };
    const { client } = fakeClient({ applied: true, text: '    return 1\n', search });
    await generateFunction(() => client);
    assert.deepEqual(mock.messages, [{ level: 'warning', text: 'guidecode: 1 of 2 tests pass (3 programs written, rollouts); failing: test_big' }]);
    mock.messages.length = 0;
    const solved = fakeClient({ applied: true, text: '', search: { rollouts: 1, stopped: 'solved', passed: ['a', 'b'], failed: [] } });
    await generateFunction(() => solved.client);
    assert.deepEqual(mock.messages, [{ level: 'info', text: 'guidecode: all 2 tests pass (1 program written, solved).' }]);
});

test('a long list of failing tests is cut to three', () => {
    const text = describeSearch({ rollouts: 8, stopped: 'rollouts', passed: [], failed: ['a', 'b', 'c', 'd', 'e'] });
    assert.equal(text, 'guidecode: 0 of 5 tests pass (8 programs written, rollouts); failing: a; b; c; and 2 more');
});

test('the search summary says why the first failing test failed', () => {
    const failures = [{ test: 'test_a', detail: 'not run: the tests stopped: ModuleNotFoundError: x' }, { test: 'test_b', detail: '' }];
    const text = describeSearch({ rollouts: 2, stopped: 'rollouts', passed: ['ok'], failed: ['test_a', 'test_b'], failures });
    assert.equal(text, 'guidecode: 1 of 3 tests pass (2 programs written, rollouts); failing: test_a; test_b '
        + '(test_a: not run: the tests stopped: ModuleNotFoundError: x)');
});

test('generate warns when the server wrote nothing', async () => {
    editor();
    const { client } = fakeClient({ applied: false, text: '' });
    await generateFunction(() => client);
    assert.equal(mock.messages[0].level, 'warning');
});

test('generate needs a Python editor and a running server', async () => {
    const { client, sent } = fakeClient({ applied: true, text: '' });
    await generateFunction(() => client);
    editor('javascript');
    await generateFunction(() => client);
    assert.equal(sent.length, 0);
    assert.deepEqual(mock.messages.map((m) => m.level), ['warning', 'warning']);
    editor('python');
    assert.equal(await generateFunction(() => undefined), undefined);
    assert.match(mock.messages[2].text, /not running/);
});

const STATS = {
    model: '0.5b',
    requests: 120,
    completions: 100,
    cancelled: 20,
    cacheHits: { typedAhead: 30, lru: 12 },
    latencyMs: { p50: 84.6, p95: 210, p99: 340.2 },
    tokensPerSecond: 41.27,
    prefillTokensSaved: 12345,
};

test('formatStats gives one readable row per figure', () => {
    assert.deepEqual(formatStats(STATS).map((i) => `${i.label}: ${i.description}`), [
        'Model: 0.5b',
        'Requests: 120',
        'Completions: 100',
        'Cancelled: 20',
        'Cache hits: typed-ahead 30 · LRU 12',
        'Latency: p50 85 ms · p95 210 ms · p99 340 ms',
        'Throughput: 41.3 tokens/s',
        'Prefill tokens saved: 12,345',
    ]);
});

test('formatStats copes with missing and unknown fields', () => {
    const rows = formatStats({ model: '1.5b', speculation: { accepted: 0.7 } });
    assert.equal(rows.find((r) => r.label === 'Latency')?.description, 'p50 – · p95 – · p99 –');
    assert.equal(rows.find((r) => r.label === 'Requests')?.description, '–');
    assert.equal(rows.at(-1)?.label, 'speculation');
    assert.equal(rows.at(-1)?.description, '{"accepted":0.7}');
    assert.equal(formatStats(null)[0].description, '–');
});

test('showStats asks guidecode.stats, shows a quick pick and logs the figures', async () => {
    const { client, sent } = fakeClient(STATS);
    await showStats(() => client);
    assert.deepEqual(sent, [{ method: 'workspace/executeCommand', params: { command: 'guidecode.stats', arguments: [] } }]);
    assert.equal(mock.quickPicks.length, 1);
    assert.deepEqual(mock.quickPicks[0].items, formatStats(STATS));
    assert.ok(mock.logLines.some((l) => l.includes('Prefill tokens saved: 12,345')));
});

test('registerCommands registers exactly the commands package.json contributes', async () => {
    let restarts = 0;
    const disposables = registerCommands({ running: undefined, restart: async () => void restarts++ });
    const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
    assert.deepEqual([...mock.commands.keys()].sort(), contributed);
    await mock.commands.get('guidecode.restartServer')?.();
    assert.equal(restarts, 1);
    await mock.commands.get('guidecode.showStats')?.(); // no server: an error message, not a throw
    assert.match(mock.messages[0].text, /not running/);
    disposables.forEach((d) => d.dispose());
    assert.equal(mock.commands.size, 0);
});
