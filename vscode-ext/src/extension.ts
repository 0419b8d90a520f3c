import type { ExtensionContext } from 'vscode';
import { registerCommands } from './commands';
import * as log from './log';
import { GuidecodeServer, needsRestart } from './server';
import { StatusBar } from './statusBar';
import { onDidChangeConfiguration } from './vscodeapi';

let server: GuidecodeServer | undefined;

export function activate(context: ExtensionContext): void {
    const statusBar = new StatusBar();
    const current = new GuidecodeServer(statusBar);
    server = current;
    context.subscriptions.push(
        log.outputChannel(),
        statusBar,
        ...registerCommands(current),
        // Other guidecode settings reach the running server through didChangeConfiguration.
        onDidChangeConfiguration((e) => {
            if (needsRestart(e)) {
                log.info('server settings changed: restarting');
                void current.restart();
            }
        }),
    );
    // Not awaited: loading a model can take a while, and start() reports its own failures.
    void current.start();
}

export async function deactivate(): Promise<void> {
    await server?.stop();
    server = undefined;
}
