import { mock } from './mock-vscode';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { currentSettings, DEFAULTS, readSettings, serverOptionsOf } from '../settings';

beforeEach(() => mock.reset());

const from = (values: Record<string, unknown>) => (key: string) => values[key];

test('every setting has its default when nothing is set', () => {
    assert.deepEqual(readSettings(() => undefined), {
        model: '0.5b',
        dtype: 'auto',
        device: 'auto',
        weights: 'auto',
        maxTokens: 64,
        maxPromptTokens: 1024,
        debounceMs: 50,
        guides: { healing: true, monitors: true, nameChoice: true },
        speculation: true,
        languageServer: 'jedi',
        adadec: false,
        context: { tokens: 0, when: 'unsure', confidence: 0.3, recent: true },
        search: true,
        searchRollouts: 8,
        searchSeconds: 60,
        searchTemperature: 0.8,
        server: { command: 'guidecode', pythonPath: '', args: [] },
        trace: 'off',
        languages: ['*'],
    });
});

test('the languages served are a list of ids; an empty or malformed one means every language', () => {
    assert.deepEqual(readSettings(from({ languages: ['python', ' go ', 3] })).languages, ['python', 'go']);
    assert.deepEqual(readSettings(from({ languages: [] })).languages, ['*']);
    assert.deepEqual(readSettings(from({ languages: 'python' })).languages, ['*']);
});

test('set values override the defaults', () => {
    const s = readSettings(from({
        model: '1.5b', dtype: 'bfloat16', device: 'cuda', maxTokens: 32, debounceMs: 0,
        guides: { healing: false }, speculation: true, languageServer: 'pyright', adadec: true, search: false, searchRollouts: 16, searchSeconds: 2.5,
        searchTemperature: 0, 'server.command': '/opt/gc',
        'server.pythonPath': '/venv/bin/python', 'server.args': ['--verbose'], 'trace.server': 'verbose',
    }));
    assert.equal(s.model, '1.5b');
    assert.equal(s.dtype, 'bfloat16');
    assert.equal(s.device, 'cuda');
    assert.equal(s.maxTokens, 32);
    assert.equal(s.debounceMs, 0);
    assert.deepEqual(s.guides, { healing: false, monitors: true, nameChoice: true });
    assert.equal(s.speculation, true);
    assert.equal(s.languageServer, 'pyright');
    assert.equal(s.adadec, true);
    assert.equal(s.search, false);
    assert.equal(s.searchRollouts, 16);
    assert.equal(s.searchSeconds, 2.5);
    assert.equal(s.searchTemperature, 0);
    assert.deepEqual(s.server, { command: '/opt/gc', pythonPath: '/venv/bin/python', args: ['--verbose'] });
    assert.equal(s.trace, 'verbose');
});

test('values of the wrong type or range fall back to the defaults', () => {
    const s = readSettings(from({
        model: '  ', dtype: 'int8', device: 'tpu', weights: 'int4', maxTokens: 0, debounceMs: 2.5, speculation: 'yes', languageServer: 'pylance', adadec: 'on', search: 1, searchRollouts: 0,
        searchSeconds: 0.5, searchTemperature: 2.5,
        'server.args': ['--a', 3, null, '--b'], 'trace.server': 'loud',
    }));
    assert.equal(s.model, '0.5b');
    assert.equal(s.dtype, 'auto');
    assert.equal(s.device, 'auto');
    assert.equal(s.weights, 'auto');
    assert.equal(s.maxTokens, 64);
    assert.equal(s.debounceMs, 50);
    assert.equal(s.speculation, true); // the default
    assert.equal(s.languageServer, 'jedi');
    assert.equal(s.adadec, false);
    assert.equal(s.search, true);
    assert.equal(s.searchRollouts, 8);
    assert.equal(s.searchSeconds, 60);
    assert.equal(s.searchTemperature, 0.8);
    assert.deepEqual(s.server.args, ['--a', '--b']);
    assert.equal(s.trace, 'off');
});

test('numbers past the server\'s ranges fall back too, so it is never sent one it refuses', () => {
    const s = readSettings(from({ searchRollouts: 300, searchSeconds: 4000, searchTemperature: -0.1 }));
    assert.deepEqual([s.searchRollouts, s.searchSeconds, s.searchTemperature], [8, 60, 0.8]);
});

test('guides are read from the guides object or their own keys; keys the server does not know are not sent', () => {
    const s = readSettings(from({ guides: { monitors: false, syntax: true, healing: 'x' }, 'guides.nameChoice': false }));
    assert.deepEqual(s.guides, { healing: true, monitors: false, nameChoice: false });
});

test('the server receives the options without launch or trace settings', () => {
    const options = serverOptionsOf(readSettings(from({ model: '1.5b', 'server.command': 'x' })));
    assert.deepEqual(Object.keys(options).sort(),
        ['adadec', 'context', 'debounceMs', 'device', 'dtype', 'guides', 'languageServer', 'maxPromptTokens', 'maxTokens', 'model', 'search', 'searchRollouts',
            'searchSeconds', 'searchTemperature', 'speculation', 'weights']);
    assert.equal(options.model, '1.5b');
});

test('currentSettings reads the guidecode section of the workspace configuration', () => {
    mock.settings.set('guidecode.guides.healing', false);
    mock.settings.set('guidecode.maxTokens', 16);
    const s = currentSettings();
    assert.deepEqual(s.guides, { healing: false, monitors: true, nameChoice: true });
    assert.equal(s.maxTokens, 16);
});

test('package.json declares every setting with the same default as the code', () => {
    const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const declared = manifest.contributes.configuration.properties as Record<string, { default: unknown }>;
    const expected: Record<string, unknown> = {
        'guidecode.model': DEFAULTS.model,
        'guidecode.dtype': DEFAULTS.dtype,
        'guidecode.device': DEFAULTS.device,
        'guidecode.weights': DEFAULTS.weights,
        'guidecode.maxTokens': DEFAULTS.maxTokens,
        'guidecode.maxPromptTokens': DEFAULTS.maxPromptTokens,
        'guidecode.debounceMs': DEFAULTS.debounceMs,
        'guidecode.guides.healing': DEFAULTS.guides.healing,
        'guidecode.guides.monitors': DEFAULTS.guides.monitors,
        'guidecode.guides.nameChoice': DEFAULTS.guides.nameChoice,
        'guidecode.languageServer': DEFAULTS.languageServer,
        'guidecode.adadec': DEFAULTS.adadec,
        'guidecode.context.tokens': DEFAULTS.context.tokens,
        'guidecode.context.when': DEFAULTS.context.when,
        'guidecode.context.confidence': DEFAULTS.context.confidence,
        'guidecode.context.recent': DEFAULTS.context.recent,
        'guidecode.search': DEFAULTS.search,
        'guidecode.searchRollouts': DEFAULTS.searchRollouts,
        'guidecode.searchSeconds': DEFAULTS.searchSeconds,
        'guidecode.searchTemperature': DEFAULTS.searchTemperature,
        'guidecode.speculation': DEFAULTS.speculation,
        'guidecode.server.command': DEFAULTS.server.command,
        'guidecode.server.pythonPath': DEFAULTS.server.pythonPath,
        'guidecode.server.args': DEFAULTS.server.args,
        'guidecode.trace.server': DEFAULTS.trace,
        'guidecode.languages': DEFAULTS.languages,
    };
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(declared[key].default, value, key);
    }
});
