import { mock } from './mock-vscode';
import { strict as assert } from 'node:assert';
import { beforeEach, test } from 'node:test';
import { parseStatus, ServerStatus, StatusBar, statusText, statusTooltip } from '../statusBar';

beforeEach(() => mock.reset());

const status = (state: ServerStatus['state'], lastLatencyMs: number | null = 84.6): ServerStatus =>
    ({ state, model: '0.5b', lastLatencyMs });

test('statusText for each state', () => {
    assert.equal(statusText(status('starting')), '$(sync~spin) guidecode');
    assert.equal(statusText(status('loading')), '$(sync~spin) guidecode: loading 0.5b');
    assert.equal(statusText(status('busy')), '$(sync~spin) guidecode 0.5b 85 ms');
    assert.equal(statusText(status('idle')), '$(check) guidecode 0.5b 85 ms');
    assert.equal(statusText(status('idle', null)), '$(check) guidecode 0.5b');
    assert.equal(statusText(status('stopped')), '$(circle-slash) guidecode');
});

test('the tooltip names the model, the latency and the click action', () => {
    assert.equal(statusTooltip(status('idle', 120)), 'guidecode: idle\nModel: 0.5b\nLast completion: 120 ms\nClick for statistics');
    assert.equal(statusTooltip({ state: 'stopped', model: '', lastLatencyMs: null, detail: 'boom' }),
        'guidecode: stopped\nboom\nClick for statistics');
});

test('malformed notification fields keep what was known', () => {
    const previous = status('idle', 50);
    assert.deepEqual(parseStatus({ state: 'busy' }, previous), { state: 'busy', model: '0.5b', lastLatencyMs: 50 });
    assert.deepEqual(parseStatus({ state: 'weird', model: 7, lastLatencyMs: 'x' }, previous),
        { state: 'idle', model: '0.5b', lastLatencyMs: 50 });
    assert.deepEqual(parseStatus({ state: 'loading', model: '1.5b', lastLatencyMs: null }, previous),
        { state: 'loading', model: '1.5b', lastLatencyMs: null });
    assert.deepEqual(parseStatus(undefined, previous), previous);
});

test('the status bar item shows the server notifications and opens the statistics', () => {
    const bar = new StatusBar();
    const item = mock.statusItems[0];
    assert.equal(item.visible, true);
    assert.equal(item.command, 'guidecode.showStats');
    assert.equal(item.text, '$(sync~spin) guidecode');
    bar.fromServer({ state: 'idle', model: '1.5b', lastLatencyMs: 42 });
    assert.equal(item.text, '$(check) guidecode 1.5b 42 ms');
    bar.set('stopped', 'gone');
    assert.equal(item.text, '$(circle-slash) guidecode');
    assert.match(String(item.tooltip), /gone/);
    bar.dispose();
    assert.equal(item.disposed, true);
});
