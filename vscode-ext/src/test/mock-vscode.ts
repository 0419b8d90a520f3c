// A small stand-in for the `vscode` module, installed for `require('vscode')` by importing this
// file first. It records what the extension asked of VS Code so tests can assert on it.
import Module = require('module');

type Listener = (e: { affectsConfiguration(section: string): boolean }) => void;

export const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };

export class Disposable {
    constructor(private readonly onDispose: () => void = () => undefined) {}
    dispose(): void {
        this.onDispose();
    }
}

// vscode-languageclient subclasses these when it is loaded.
export class CompletionItem {}
export class CodeLens {}
export class DocumentLink {}
export class CodeAction {}
export class Diagnostic {}
export class CallHierarchyItem {}
export class TypeHierarchyItem {}
export class SymbolInformation {}
export class InlayHint {}
export class CancellationError extends Error {}

export interface FakeEditor {
    document: { uri: { toString(): string }; languageId: string };
    selection: { active: { line: number; character: number } };
}

/** Everything the fake VS Code recorded; reset() before each test. */
export const mock = {
    settings: new Map<string, unknown>(), // full keys, e.g. 'guidecode.guides.healing'
    workspaceSettings: new Set<string>(), // full keys whose value is set at workspace level
    updates: [] as { key: string; value: unknown; target: number }[],
    commands: new Map<string, (...args: unknown[]) => unknown>(),
    messages: [] as { level: 'info' | 'warning' | 'error'; text: string }[],
    quickPicks: [] as { items: unknown[]; options: unknown }[],
    logLines: [] as string[],
    statusItems: [] as Record<string, unknown>[],
    inlineProviders: [] as { selector: unknown; provider: unknown; disposed: boolean }[],
    configListeners: [] as Listener[],
    activeTextEditor: undefined as FakeEditor | undefined,
    workspaceFolders: undefined as { uri: { fsPath: string } }[] | undefined,
    reset(): void {
        for (const value of Object.values(this)) {
            if (value instanceof Map || value instanceof Set) {
                value.clear();
            } else if (Array.isArray(value)) {
                value.length = 0;
            }
        }
        this.activeTextEditor = undefined;
        this.workspaceFolders = undefined;
    },
    /** Fires onDidChangeConfiguration as VS Code would after the given full keys changed. */
    changeSettings(values: Record<string, unknown>): void {
        for (const [key, value] of Object.entries(values)) {
            mock.settings.set(key, value);
        }
        const keys = Object.keys(values);
        const event = { affectsConfiguration: (s: string) => keys.some((k) => k === s || k.startsWith(`${s}.`)) };
        mock.configListeners.forEach((listener) => listener(event));
    },
};

/** Like VS Code, `get('guides')` assembles an object from every `guides.*` key. */
function configuration(section: string) {
    const full = (key: string) => `${section}.${key}`;
    return {
        get(key: string, fallback?: unknown): unknown {
            if (mock.settings.has(full(key))) {
                return mock.settings.get(full(key));
            }
            const prefix = `${full(key)}.`;
            const nested: Record<string, unknown> = {};
            for (const [k, v] of mock.settings) {
                if (k.startsWith(prefix)) {
                    nested[k.slice(prefix.length)] = v;
                }
            }
            return Object.keys(nested).length ? nested : fallback;
        },
        inspect(key: string) {
            const value = mock.settings.get(full(key));
            return mock.workspaceSettings.has(full(key)) ? { key, workspaceValue: value } : { key, globalValue: value };
        },
        async update(key: string, value: unknown, target: number): Promise<void> {
            mock.updates.push({ key: full(key), value, target });
            mock.settings.set(full(key), value);
        },
    };
}

const log = (level: string) => (message: string) => mock.logLines.push(`[${level}] ${message}`);

export const window = {
    get activeTextEditor() {
        return mock.activeTextEditor;
    },
    createOutputChannel: (name: string) => ({
        name,
        info: log('info'),
        warn: log('warn'),
        error: log('error'),
        debug: log('debug'),
        trace: log('trace'),
        appendLine: log('line'),
        append: log('line'),
        show: () => undefined,
        dispose: () => undefined,
    }),
    createStatusBarItem: (alignment: number, priority: number) => {
        const item: Record<string, unknown> = { alignment, priority, visible: false, disposed: false };
        item.show = () => (item.visible = true);
        item.hide = () => (item.visible = false);
        item.dispose = () => (item.disposed = true);
        mock.statusItems.push(item);
        return item;
    },
    showInformationMessage: async (text: string) => void mock.messages.push({ level: 'info', text }),
    showWarningMessage: async (text: string) => void mock.messages.push({ level: 'warning', text }),
    showErrorMessage: async (text: string) => void mock.messages.push({ level: 'error', text }),
    showQuickPick: async (items: unknown[], options: unknown) => void mock.quickPicks.push({ items, options }),
    withProgress: (_options: unknown, task: () => Promise<unknown>) => task(),
};

export const workspace = {
    get workspaceFolders() {
        return mock.workspaceFolders;
    },
    getConfiguration: configuration,
    onDidChangeConfiguration(listener: Listener) {
        mock.configListeners.push(listener);
        return new Disposable(() => mock.configListeners.splice(mock.configListeners.indexOf(listener), 1));
    },
};

export const commands = {
    registerCommand(id: string, handler: (...args: unknown[]) => unknown) {
        mock.commands.set(id, handler);
        return new Disposable(() => mock.commands.delete(id));
    },
};

export const languages = {
    registerInlineCompletionItemProvider(selector: unknown, provider: unknown) {
        const entry = { selector, provider, disposed: false };
        mock.inlineProviders.push(entry);
        return new Disposable(() => (entry.disposed = true));
    },
};

// Point `require('vscode')` at this module, which is already in the require cache.
const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const resolve = resolver._resolveFilename;
resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
    return request === 'vscode' ? __filename : resolve.call(this, request, ...rest);
};
