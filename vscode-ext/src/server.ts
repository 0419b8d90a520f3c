import type { ConfigurationChangeEvent, Disposable } from 'vscode';
import { Executable, LanguageClient, LanguageClientOptions, State, TransportKind } from 'vscode-languageclient/node';
import { REFRESH_NOTIFICATION, refreshHandler, registerInlineFallback } from './inline';
import * as log from './log';
import { currentSettings, SECTION, ServerLaunch, serverOptionsOf, Settings } from './settings';
import type { StatusBar } from './statusBar';
import { activeDocumentUri, firstWorkspaceFolder, triggerInlineSuggest } from './vscodeapi';

// The client id also makes vscode-languageclient honour the `guidecode.trace.server` setting.
export const CLIENT_ID = 'guidecode';
export const STATUS_NOTIFICATION = 'guidecode/status';
const SCHEMES = ['file', 'untitled'];

/** The documents the server completes: every language (`*`), or the language ids listed. Plain
 * filters fit both VS Code's and the protocol's DocumentSelector types. */
export function documentSelector(languages: readonly string[]): { scheme: string; language?: string }[] {
    if (languages.includes('*')) {
        return SCHEMES.map((scheme) => ({ scheme }));
    }
    return SCHEMES.flatMap((scheme) => languages.map((language) => ({ scheme, language })));
}

/** Launch settings (and the languages served, which the client's selector fixes) are read once
 * per process, so a change to them needs a restart. */
export function needsRestart(event: Pick<ConfigurationChangeEvent, 'affectsConfiguration'>): boolean {
    return event.affectsConfiguration(`${SECTION}.server`) || event.affectsConfiguration(`${SECTION}.languages`);
}

export function serverCommand(launch: ServerLaunch, workspaceFolder?: string): { command: string; args: string[] } {
    if (launch.pythonPath) {
        const python = workspaceFolder === undefined
            ? launch.pythonPath
            : launch.pythonPath.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
        return { command: python, args: ['-m', 'assistant.cli', 'serve', ...launch.args] };
    }
    return { command: launch.command, args: ['serve', ...launch.args] };
}

export function serverOptions(settings: Settings, workspaceFolder?: string): Executable {
    const { command, args } = serverCommand(settings.server, workspaceFolder);
    return { command, args, transport: TransportKind.stdio, options: { cwd: workspaceFolder } };
}

export function clientOptions(
    channel: LanguageClientOptions['outputChannel'],
    settings: () => Settings = currentSettings,
): LanguageClientOptions {
    return {
        documentSelector: documentSelector(settings().languages),
        synchronize: { configurationSection: SECTION },
        // A function, so a restart sends the values of that moment.
        initializationOptions: () => serverOptionsOf(settings()),
        outputChannel: channel,
        traceOutputChannel: channel,
    };
}

export type ClientFactory = (settings: Settings, workspaceFolder: string | undefined) => LanguageClient;

const defaultFactory: ClientFactory = (settings, folder) =>
    new LanguageClient(CLIENT_ID, 'guidecode', serverOptions(settings, folder), clientOptions(log.outputChannel()));

type StatusSink = Pick<StatusBar, 'fromServer' | 'set' | 'current'>;

/** Owns the one LanguageClient; start, stop and restart run one after another, never interleaved. */
export class GuidecodeServer implements Disposable {
    private client: LanguageClient | undefined;
    private fallback: Disposable | undefined;
    private queue: Promise<void> = Promise.resolve();

    constructor(private readonly status: StatusSink, private readonly createClient: ClientFactory = defaultFactory) {}

    /** Asked at call time by the commands, so they always reach the current process. */
    get running(): LanguageClient | undefined {
        return this.client?.isRunning() ? this.client : undefined;
    }

    start(): Promise<void> {
        return this.enqueue(() => this.doStart());
    }

    stop(): Promise<void> {
        return this.enqueue(() => this.doStop());
    }

    restart(): Promise<void> {
        return this.enqueue(async () => {
            await this.doStop();
            await this.doStart();
        });
    }

    dispose(): void {
        void this.stop();
    }

    private enqueue(step: () => Promise<void>): Promise<void> {
        const next = this.queue.then(step);
        this.queue = next.catch(() => undefined);
        return next;
    }

    private async doStart(): Promise<void> {
        const settings = currentSettings();
        const folder = firstWorkspaceFolder();
        const launch = serverCommand(settings.server, folder);
        log.info(`starting ${[launch.command, ...launch.args].join(' ')}`);
        this.status.set('starting');
        let client: LanguageClient;
        try {
            client = this.createClient(settings, folder);
            this.watch(client);
            await client.start();
        } catch (err) {
            log.error(`could not start \`${launch.command}\`; check guidecode.server.command or guidecode.server.pythonPath`, err);
            this.status.set('stopped', `Could not start ${launch.command}: ${log.describe(err)}`);
            return;
        }
        this.fallback = registerInlineFallback(client, documentSelector(settings.languages));
    }

    private watch(client: LanguageClient): void {
        this.client = client;
        client.registerProposedFeatures(); // inline completion is a proposed (LSP 3.18) feature in v9
        client.onNotification(STATUS_NOTIFICATION, (params: unknown) => this.status.fromServer(params));
        client.onNotification(REFRESH_NOTIFICATION, refreshHandler(activeDocumentUri, triggerInlineSuggest));
        client.onDidChangeState((e) => {
            if (this.client !== client) {
                return;
            }
            if (e.newState === State.Stopped) {
                this.status.set('stopped', 'The server stopped; see the guidecode output.');
            } else if (e.newState === State.Running && ['starting', 'stopped'].includes(this.status.current.state)) {
                // Until the server's first guidecode/status (or if it never sends one), don't spin forever.
                this.status.set('idle');
            }
        });
    }

    private async doStop(): Promise<void> {
        this.fallback?.dispose();
        this.fallback = undefined;
        const client = this.client;
        this.client = undefined;
        if (client?.isRunning()) {
            try {
                await client.dispose();
            } catch (err) {
                log.error('stopping the server failed', err);
            }
        }
        this.status.set('stopped');
    }
}
