import { mock } from './mock-vscode';
import { strict as assert } from 'node:assert';
import { beforeEach, test } from 'node:test';
import { LanguageClient, State, TransportKind } from 'vscode-languageclient/node';
import { INLINE_COMPLETION, inlineProvider, InlineClient } from '../inline';
import {
    clientOptions, documentSelector, GuidecodeServer, needsRestart, serverCommand, serverOptions, STATUS_NOTIFICATION,
} from '../server';
import { DEFAULTS, Settings } from '../settings';
import { StatusBar } from '../statusBar';

beforeEach(() => mock.reset());

const launch = (server: Partial<Settings['server']>) => ({ ...DEFAULTS.server, ...server });

test('the server runs as `<command> serve` by default', () => {
    assert.deepEqual(serverCommand(launch({})), { command: 'guidecode', args: ['serve'] });
    assert.deepEqual(serverCommand(launch({ command: '/opt/gc', args: ['--log-level', 'debug'] })),
        { command: '/opt/gc', args: ['serve', '--log-level', 'debug'] });
});

test('pythonPath wins over command and runs the module', () => {
    assert.deepEqual(serverCommand(launch({ command: 'ignored', pythonPath: '/venv/bin/python', args: ['-v'] })),
        { command: '/venv/bin/python', args: ['-m', 'assistant.cli', 'serve', '-v'] });
    assert.equal(serverCommand(launch({ pythonPath: '${workspaceFolder}/.venv/bin/python' }), '/ws').command,
        '/ws/.venv/bin/python');
});

test('serverOptions speaks stdio from the workspace folder', () => {
    const options = serverOptions({ ...DEFAULTS, server: launch({ command: 'gc' }) }, '/ws');
    assert.deepEqual(options, { command: 'gc', args: ['serve'], transport: TransportKind.stdio, options: { cwd: '/ws' } });
});

test('clientOptions: documents of every language, pushed configuration, current values at initialize', () => {
    let model = 'a';
    const options = clientOptions(undefined, () => ({ ...DEFAULTS, model }));
    assert.deepEqual(options.documentSelector, [{ scheme: 'file' }, { scheme: 'untitled' }]);
    assert.equal(options.synchronize?.configurationSection, 'guidecode');
    const init = options.initializationOptions as () => Record<string, unknown>;
    assert.equal(init().model, 'a');
    model = 'b';
    assert.equal(init().model, 'b');
    assert.equal('server' in init(), false);
    assert.equal('languages' in init(), false);
});

test('only launch settings need a restart', () => {
    const event = (changed: string) => ({ affectsConfiguration: (s: string) => changed.startsWith(s) });
    assert.equal(needsRestart(event('guidecode.server.pythonPath')), true);
    assert.equal(needsRestart(event('guidecode.model')), false);
    assert.equal(needsRestart(event('guidecode.languages')), true);
});

/** Plays the part of a LanguageClient whose process starts at once. */
class FakeClient {
    calls: string[] = [];
    requests: { method: string; params: unknown }[] = [];
    initializeResult: unknown;
    private running = false;
    private handlers = new Map<string, (params: unknown) => void>();
    private listeners: ((e: { newState: State }) => void)[] = [];

    constructor(readonly settings: Settings, private readonly capabilities: object, private readonly fail = false) {}
    registerProposedFeatures() { this.calls.push('registerProposedFeatures'); }
    onNotification(method: string, handler: (params: unknown) => void) { this.handlers.set(method, handler); }
    onDidChangeState(listener: (e: { newState: State }) => void) { this.listeners.push(listener); }
    isRunning() { return this.running; }
    async start() {
        this.calls.push('start');
        if (this.fail) {
            throw new Error('spawn guidecode ENOENT');
        }
        this.running = true;
        this.initializeResult = { capabilities: this.capabilities };
        this.listeners.forEach((l) => l({ newState: State.Running }));
    }
    async dispose() {
        this.calls.push('dispose');
        this.running = false;
        this.listeners.forEach((l) => l({ newState: State.Stopped }));
    }
    notify(method: string, params: unknown) { this.handlers.get(method)?.(params); }
}

function harness(capabilities: object = {}, fail = false) {
    const clients: FakeClient[] = [];
    const bar = new StatusBar();
    const server = new GuidecodeServer(bar, (settings) => {
        const client = new FakeClient(settings, capabilities, fail);
        clients.push(client);
        return client as unknown as LanguageClient;
    });
    return { clients, bar, server };
}

test('start enables the proposed features and forwards guidecode/status to the status bar', async () => {
    const { clients, bar, server } = harness();
    await server.start();
    assert.deepEqual(clients[0].calls, ['registerProposedFeatures', 'start']);
    assert.equal(bar.current.state, 'idle');
    clients[0].notify(STATUS_NOTIFICATION, { state: 'loading', model: '1.5b', lastLatencyMs: null });
    assert.equal(mock.statusItems[0].text, '$(sync~spin) guidecode: loading 1.5b');
    assert.equal(server.running, clients[0] as unknown);
});

test('inline completions get the extension\'s provider only when the server does not advertise them', async () => {
    const plain = harness();
    await plain.server.start();
    assert.equal(mock.inlineProviders.length, 1);
    assert.deepEqual(mock.inlineProviders[0].selector, documentSelector(['*']));
    mock.reset();
    const advertising = harness({ inlineCompletionProvider: {} });
    await advertising.server.start();
    assert.equal(mock.inlineProviders.length, 0);
});

test('restart stops the old process and starts one with the new settings', async () => {
    const { clients, bar, server } = harness();
    await server.start();
    const fallback = mock.inlineProviders[0];
    mock.settings.set('guidecode.server.pythonPath', '/venv/bin/python');
    await server.restart();
    assert.equal(clients.length, 2);
    assert.deepEqual(clients[0].calls, ['registerProposedFeatures', 'start', 'dispose']);
    assert.equal(fallback.disposed, true);
    assert.equal(clients[1].settings.server.pythonPath, '/venv/bin/python');
    assert.equal(server.running, clients[1] as unknown);
    assert.equal(bar.current.state, 'idle');
});

test('a server that cannot start leaves the status stopped and says why', async () => {
    const { bar, server } = harness({}, true);
    await server.start();
    assert.equal(server.running, undefined);
    assert.equal(bar.current.state, 'stopped');
    assert.match(String(mock.statusItems[0].tooltip), /ENOENT/);
    assert.ok(mock.logLines.some((l) => l.startsWith('[error]') && l.includes('guidecode.server.command')));
});

test('the fallback provider sends textDocument/inlineCompletion and converts the answer', async () => {
    const sent: unknown[][] = [];
    const client = {
        code2ProtocolConverter: { asInlineCompletionParams: (_d: unknown, p: unknown, c: unknown) => ({ p, c }) },
        protocol2CodeConverter: { asInlineCompletionResult: async (r: unknown) => ({ converted: r }) },
        sendRequest: async (...args: unknown[]) => {
            sent.push(args);
            return [{ insertText: 'return x' }];
        },
    } as unknown as InlineClient;
    const token = { isCancellationRequested: false };
    const provider = inlineProvider(client);
    const result = await provider.provideInlineCompletionItems({} as never, 'pos' as never, 'ctx' as never, token as never);
    assert.deepEqual(sent, [[INLINE_COMPLETION, { p: 'pos', c: 'ctx' }, token]]);
    assert.deepEqual(result, { converted: [{ insertText: 'return x' }] });
});

test('a failing inline request yields nothing and is logged once', async () => {
    const client = {
        code2ProtocolConverter: { asInlineCompletionParams: () => ({}) },
        sendRequest: async () => { throw new Error('Unhandled method'); },
    } as unknown as InlineClient;
    const provider = inlineProvider(client);
    const token = { isCancellationRequested: false } as never;
    assert.equal(await provider.provideInlineCompletionItems({} as never, {} as never, {} as never, token), undefined);
    await provider.provideInlineCompletionItems({} as never, {} as never, {} as never, token);
    assert.equal(mock.logLines.filter((l) => l.includes('Unhandled method')).length, 1);
});

test('every language is served by default, or only the language ids listed', () => {
    assert.deepEqual(documentSelector(['*']), [{ scheme: 'file' }, { scheme: 'untitled' }]);
    assert.deepEqual(documentSelector(['python', 'go']), [
        { scheme: 'file', language: 'python' }, { scheme: 'file', language: 'go' },
        { scheme: 'untitled', language: 'python' }, { scheme: 'untitled', language: 'go' },
    ]);
});
