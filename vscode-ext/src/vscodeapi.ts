// The only module (with the language client) that touches the `vscode` API, so the rest can be
// unit-tested against a small mock of these functions.
import * as vscode from 'vscode';

export function createOutputChannel(name: string): vscode.LogOutputChannel {
    return vscode.window.createOutputChannel(name, { log: true });
}

export function getConfiguration(section: string): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(section);
}

export function onDidChangeConfiguration(
    listener: (e: vscode.ConfigurationChangeEvent) => unknown,
): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration(listener);
}

export function firstWorkspaceFolder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** Writes where the value is set now: the workspace if it overrides the user value, else the user. */
export async function updateSetting(config: vscode.WorkspaceConfiguration, key: string, value: unknown): Promise<void> {
    const inspected = config.inspect(key);
    const target = inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    await config.update(key, value, target);
}

export function registerCommand(id: string, handler: (...args: unknown[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(id, handler);
}

export function createStatusBarItem(): vscode.StatusBarItem {
    return vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
}

export function activeTextEditor(): vscode.TextEditor | undefined {
    return vscode.window.activeTextEditor;
}

export function showInformationMessage(message: string): Thenable<string | undefined> {
    return vscode.window.showInformationMessage(message);
}

export function showWarningMessage(message: string): Thenable<string | undefined> {
    return vscode.window.showWarningMessage(message);
}

export function showErrorMessage(message: string): Thenable<string | undefined> {
    return vscode.window.showErrorMessage(message);
}

export function showQuickPick(
    items: vscode.QuickPickItem[],
    options: vscode.QuickPickOptions,
): Thenable<vscode.QuickPickItem | undefined> {
    return vscode.window.showQuickPick(items, options);
}

export function withProgress<T>(title: string, task: () => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, task);
}

export function registerInlineCompletionItemProvider(
    selector: vscode.DocumentSelector,
    provider: vscode.InlineCompletionItemProvider,
): vscode.Disposable {
    return vscode.languages.registerInlineCompletionItemProvider(selector, provider);
}

export function activeDocumentUri(): string | undefined {
    return vscode.window.activeTextEditor?.document.uri.toString();
}

export function triggerInlineSuggest(): Thenable<unknown> {
    return vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
}
