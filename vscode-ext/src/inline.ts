import type { Disposable, DocumentSelector, InlineCompletionItemProvider } from 'vscode';
import type { InlineCompletionItem, InlineCompletionList, LanguageClient } from 'vscode-languageclient/node';
import * as log from './log';
import { registerInlineCompletionItemProvider } from './vscodeapi';

export const INLINE_COMPLETION = 'textDocument/inlineCompletion';
/** The server answered a keystroke before its generation ended and now has the rest. */
export const REFRESH_NOTIFICATION = 'guidecode/inlineCompletionRefresh';

/** What the fallback needs of the client; a LanguageClient fits. */
export type InlineClient = Pick<
    LanguageClient,
    'sendRequest' | 'code2ProtocolConverter' | 'protocol2CodeConverter' | 'initializeResult'
>;

export function serverAdvertisesInline(client: Pick<LanguageClient, 'initializeResult'>): boolean {
    return Boolean(client.initializeResult?.capabilities.inlineCompletionProvider);
}

export function inlineProvider(client: InlineClient): InlineCompletionItemProvider {
    let warned = false;
    return {
        async provideInlineCompletionItems(document, position, context, token) {
            const params = client.code2ProtocolConverter.asInlineCompletionParams(document, position, context);
            try {
                const result = await client.sendRequest(INLINE_COMPLETION, params, token);
                if (token.isCancellationRequested) {
                    return undefined;
                }
                return await client.protocol2CodeConverter.asInlineCompletionResult(
                    result as InlineCompletionItem[] | InlineCompletionList | null, token);
            } catch (err) {
                // Warn once: a server without the method would otherwise log on every keystroke.
                if (!token.isCancellationRequested && !warned) {
                    warned = true;
                    log.warn(`inline completion failed: ${log.describe(err)}`);
                }
                return undefined;
            }
        },
    };
}

/**
 * vscode-languageclient 9 shows inline completions itself (registerProposedFeatures) only when the
 * server advertises `inlineCompletionProvider`, which pygls 1.x never does; then this provider
 * sends the same request, so completions show with either kind of server.
 */
export function registerInlineFallback(client: InlineClient, selector: DocumentSelector): Disposable | undefined {
    if (serverAdvertisesInline(client)) {
        return undefined;
    }
    log.info('the server does not advertise inlineCompletionProvider: using the extension\'s own provider');
    return registerInlineCompletionItemProvider(selector, inlineProvider(client));
}

/**
 * The handler of `guidecode/inlineCompletionRefresh`: LSP 3.18 has no refresh for inline
 * completions, so ask VS Code to show them again, in the editor of that document only (the user
 * may have moved on: then the refresh has nothing to show).
 */
export function refreshHandler(
    activeUri: () => string | undefined,
    trigger: () => Thenable<unknown>,
): (params: unknown) => void {
    return (params: unknown) => {
        const uri = (params as { uri?: unknown } | null)?.uri;
        if (typeof uri === 'string' && uri === activeUri()) {
            void trigger();
        }
    };
}
