import type { LogOutputChannel } from 'vscode';
import { createOutputChannel } from './vscodeapi';

let channel: LogOutputChannel | undefined;

/** The "guidecode" output channel, shared by the extension and the language client's own logging. */
export function outputChannel(): LogOutputChannel {
    channel ??= createOutputChannel('guidecode');
    return channel;
}

export function info(message: string): void {
    outputChannel().info(message);
}

export function warn(message: string): void {
    outputChannel().warn(message);
}

export function error(message: string, err?: unknown): void {
    outputChannel().error(err === undefined ? message : `${message}: ${describe(err)}`);
}

export function describe(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}
