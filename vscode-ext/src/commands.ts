import type { Disposable, QuickPickItem } from 'vscode';
import * as log from './log';
import { readSettings, SECTION } from './settings';
import * as api from './vscodeapi';

export const EXECUTE_COMMAND = 'workspace/executeCommand';

/** What the commands need of the language client; a LanguageClient fits. */
export interface RequestClient {
    sendRequest(method: string, params: unknown): Promise<unknown>;
}

/** Asked on every call, so a restarted server is picked up. */
export type ClientSource = () => RequestClient | undefined;

export interface SearchReport {
    rollouts: number;
    stopped: string;
    passed?: string[];
    failed?: string[];
    failures?: { test: string; detail: string }[]; // each failing test and why (the exception, or why it did not run)
}

export interface GenerateResult {
    applied: boolean;
    text: string;
    search?: SearchReport;
}

/** What a test-guided search found, in one line: how many tests pass, the first that fail, and why the first failed. */
export function describeSearch(search: SearchReport): string {
    const passed = search.passed ?? [];
    const failed = search.failed ?? [];
    const total = passed.length + failed.length;
    const programs = `${search.rollouts} program${search.rollouts === 1 ? '' : 's'} written, ${search.stopped}`;
    if (failed.length === 0) {
        return `guidecode: all ${total} tests pass (${programs}).`;
    }
    const shown = failed.slice(0, 3).join('; ') + (failed.length > 3 ? `; and ${failed.length - 3} more` : '');
    const why = search.failures?.[0]?.detail;
    return `guidecode: ${passed.length} of ${total} tests pass (${programs}); failing: ${shown}` + (why ? ` (${failed[0]}: ${why})` : '');
}

function requireClient(getClient: ClientSource): RequestClient | undefined {
    const client = getClient();
    if (!client) {
        void api.showErrorMessage('guidecode: the language server is not running (see the guidecode output).');
    }
    return client;
}

/** The server writes the body itself (workspace/applyEdit); this only says where. */
export async function generateFunction(getClient: ClientSource): Promise<GenerateResult | undefined> {
    const editor = api.activeTextEditor();
    if (!editor || editor.document.languageId !== 'python') {
        void api.showWarningMessage('guidecode: put the cursor inside a Python function first.');
        return undefined;
    }
    const client = requireClient(getClient);
    if (!client) {
        return undefined;
    }
    const { line, character } = editor.selection.active;
    const argument = { uri: editor.document.uri.toString(), position: { line, character } };
    const result = (await api.withProgress('guidecode: generating the function body…', () =>
        client.sendRequest(EXECUTE_COMMAND, { command: 'guidecode.generate', arguments: [argument] }),
    )) as GenerateResult | null | undefined;
    if (!result?.applied) {
        void api.showWarningMessage('guidecode: no function body was written (is the cursor inside a function?).');
    } else if (result.search) {
        const message = describeSearch(result.search);
        void ((result.search.failed ?? []).length ? api.showWarningMessage(message) : api.showInformationMessage(message));
    }
    return result ?? undefined;
}

/** All guides follow one switch: off when every one is on, otherwise all on. Returns the new value. */
export async function toggleGuides(): Promise<boolean> {
    const config = api.getConfiguration(SECTION);
    // Every guide the options schema declares (guidecode.guides.*), so new guides join without code here.
    const guides: Record<string, boolean> = readSettings((key) => config.get(key)).guides;
    const keys = Object.keys(guides);
    const value = !keys.every((key) => guides[key]);
    for (const key of keys) {
        await api.updateSetting(config, `guides.${key}`, value);
    }
    void api.showInformationMessage(`guidecode: guides ${value ? 'on' : 'off'} (${keys.join(', ')})`);
    return value;
}

const integer = (v: unknown) => (typeof v === 'number' ? Math.round(v).toLocaleString('en-US') : '–');
const ms = (v: unknown) => (typeof v === 'number' ? `${Math.round(v)} ms` : '–');
const KNOWN = ['model', 'requests', 'completions', 'cancelled', 'cacheHits', 'latencyMs', 'tokensPerSecond', 'prefillTokensSaved'];

/** One row per figure of the `guidecode.stats` result; unknown fields are shown as they come. */
export function formatStats(raw: unknown): QuickPickItem[] {
    const s = (raw && typeof raw === 'object' ? raw : {}) as Record<string, any>;
    const hits = s.cacheHits ?? {};
    const lat = s.latencyMs ?? {};
    const rows: QuickPickItem[] = [
        { label: 'Model', description: typeof s.model === 'string' ? s.model : '–' },
        { label: 'Requests', description: integer(s.requests) },
        { label: 'Completions', description: integer(s.completions) },
        { label: 'Cancelled', description: integer(s.cancelled) },
        { label: 'Cache hits', description: `typed-ahead ${integer(hits.typedAhead)} · LRU ${integer(hits.lru)}` },
        { label: 'Latency', description: `p50 ${ms(lat.p50)} · p95 ${ms(lat.p95)} · p99 ${ms(lat.p99)}` },
        {
            label: 'Throughput',
            description: typeof s.tokensPerSecond === 'number' ? `${s.tokensPerSecond.toFixed(1)} tokens/s` : '–',
        },
        { label: 'Prefill tokens saved', description: integer(s.prefillTokensSaved) },
    ];
    for (const [key, value] of Object.entries(s)) {
        if (!KNOWN.includes(key)) {
            rows.push({ label: key, description: JSON.stringify(value) });
        }
    }
    return rows;
}

export async function showStats(getClient: ClientSource): Promise<QuickPickItem[] | undefined> {
    const client = requireClient(getClient);
    if (!client) {
        return undefined;
    }
    const items = formatStats(await client.sendRequest(EXECUTE_COMMAND, { command: 'guidecode.stats', arguments: [] }));
    log.info(['statistics', ...items.map((i) => `  ${i.label}: ${i.description}`)].join('\n'));
    void api.showQuickPick(items, { title: 'guidecode statistics', placeHolder: 'Also written to the guidecode output' });
    return items;
}

function guarded(what: string, run: () => Promise<unknown>): () => Promise<void> {
    return async () => {
        try {
            await run();
        } catch (err) {
            log.error(`could not ${what}`, err);
            void api.showErrorMessage(`guidecode: could not ${what}: ${log.describe(err)}`);
        }
    };
}

export function registerCommands(server: { readonly running: RequestClient | undefined; restart(): Promise<void> }): Disposable[] {
    const getClient: ClientSource = () => server.running;
    return [
        api.registerCommand('guidecode.generateFunction', guarded('generate the function body', () => generateFunction(getClient))),
        api.registerCommand('guidecode.toggleGuides', guarded('toggle the guides', toggleGuides)),
        api.registerCommand('guidecode.restartServer', guarded('restart the server', () => server.restart())),
        api.registerCommand('guidecode.showStats', guarded('read the statistics', () => showStats(getClient))),
    ];
}
