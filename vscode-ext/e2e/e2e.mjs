// Drives code-server (a real VS Code in the browser) with Playwright in Debian's Chromium:
// open shapes.py, put the cursor at 13:9, trigger an inline suggestion and require ghost text
// from the guidecode language server that contains `self.radius`. run.sh starts code-server and
// passes the URL; this script only drives the browser. Exit 0: seen; 1: not seen (message on stderr).
import { createRequire } from 'node:module';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
    options: {
        url: { type: 'string' },
        chromium: { type: 'string', default: '/usr/bin/chromium' },
        screenshot: { type: 'string' },
        'failure-screenshot': { type: 'string' },
        'pid-file': { type: 'string' },
        'npm-dir': { type: 'string' },
        file: { type: 'string', default: 'shapes.py' },
        line: { type: 'string', default: '13' },
        column: { type: 'string', default: '9' },
        expect: { type: 'string', default: 'self.radius' },
    },
});
for (const k of ['url', 'screenshot', 'npm-dir']) {
    if (!opt[k]) {
        console.error(`e2e.mjs: --${k} is required`);
        process.exit(2);
    }
}
// playwright-core lives in .work/npm/node_modules, which ESM resolution from here does not search.
const { chromium } = createRequire(path.join(opt['npm-dir'], 'package.json'))('playwright-core');

const GHOST_TIMEOUT_MS = Number(process.env.E2E_GHOST_TIMEOUT_S ?? 90) * 1000;
const RETRIGGER_MS = 30_000;
const t0 = Date.now();
const log = (msg) => console.log(`[e2e.mjs ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

class CheckFailed extends Error {}

async function step(name, timeoutMs, fn) {
    log(name);
    let timer;
    try {
        return await Promise.race([
            fn(),
            new Promise((_, reject) => {
                timer = setTimeout(() => reject(new CheckFailed(`timed out after ${timeoutMs / 1000}s: ${name}`)), timeoutMs);
            }),
        ]);
    } finally {
        clearTimeout(timer);
    }
}

/**
 * Text of the ghost text in the editors (VS Code renders spaces as U+00A0). The first line is split
 * over `.ghost-text-decoration` spans (one per token colour); further lines sit in `.ghost-text` view zones.
 */
async function ghostText(page) {
    return page.evaluate(() => {
        const inline = Array.from(document.querySelectorAll(
            '.monaco-editor .view-line .ghost-text-decoration, .monaco-editor .view-line .ghost-text-decoration-preview'),
        (n) => n.textContent ?? '').join('');
        const zones = Array.from(document.querySelectorAll('.monaco-editor .ghost-text'), (n) => n.textContent ?? '');
        return [inline, ...zones].filter(Boolean).join('\n').replace(/\u00a0/g, ' ');
    });
}

const oneLine = (s) => s.replace(/\s*\n\s*/g, ' / ');

async function statusBarText(page, selector) {
    return page.evaluate((sel) => Array.from(document.querySelectorAll(sel), (n) => n.textContent?.trim() ?? '').join(' | '), selector);
}

async function guidecodeStatus(page) {
    return page.evaluate(() => {
        const items = Array.from(document.querySelectorAll('.statusbar-item'));
        const hit = items.find((n) => /guidecode/i.test(n.getAttribute('aria-label') ?? '') || /guidecode/i.test(n.textContent ?? ''));
        return hit ? (hit.getAttribute('aria-label') || hit.textContent || '').trim() : '';
    });
}

let server;
let browser;
let page;
let exitCode = 1;
try {
    // launchServer, not launch: its process() gives the pid run.sh needs to end Chromium should node die.
    server = await step('launching Chromium', 60_000, () => chromium.launchServer({
        executablePath: opt.chromium,
        headless: true,
        chromiumSandbox: false,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
        timeout: 60_000,
    }));
    const pid = server.process()?.pid;
    if (opt['pid-file'] && pid) {
        writeFileSync(opt['pid-file'], `${pid}\n`);
    }
    browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
    log(`Chromium ${browser.version()} (pid ${pid})`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    page.on('pageerror', (err) => log(`page error: ${err.message}`));

    await step(`opening ${opt.url}`, 60_000, async () => {
        await page.goto(opt.url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
        // The explorer lists the workspace once the remote file system answers.
        await page.locator(`.explorer-folders-view .monaco-list-row[aria-label*="${opt.file}"]`).first()
            .waitFor({ state: 'visible', timeout: 60_000 });
    });

    await step(`Quick Open ${opt.file}`, 60_000, async () => {
        const editorLines = page.locator('.editor-group-container.active .monaco-editor .view-lines');
        for (let attempt = 1; ; attempt++) {
            await page.locator('.monaco-workbench').click({ position: { x: 640, y: 400 } }).catch(() => undefined);
            await page.keyboard.press('Control+P');
            const input = page.locator('.quick-input-widget input');
            await input.waitFor({ state: 'visible', timeout: 10_000 });
            await input.fill(opt.file);
            await page.locator('.quick-input-list .monaco-list-row', { hasText: opt.file }).first()
                .waitFor({ state: 'visible', timeout: 10_000 });
            await page.keyboard.press('Enter');
            try {
                await page.locator('.tab.active', { hasText: opt.file }).waitFor({ state: 'visible', timeout: 10_000 });
                await editorLines.filter({ hasText: 'class Circle' }).waitFor({ state: 'visible', timeout: 10_000 });
                return;
            } catch (err) {
                if (attempt >= 3) throw err;
                await page.keyboard.press('Escape');
            }
        }
    });

    const where = `${opt.line}:${opt.column}`;
    await step(`Go to Line ${where}`, 30_000, async () => {
        await page.locator('.editor-group-container.active .monaco-editor .view-lines').click();
        await page.keyboard.press('Control+G');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`:${where}`); // the box opens as ":"; fill replaces it
        await page.keyboard.press('Enter');
        const want = `Ln ${opt.line}, Col ${opt.column}`;
        const sel = '[id="status.editor.selection"]';
        await page.locator(sel, { hasText: want }).waitFor({ state: 'visible', timeout: 10_000 })
            .catch(async () => {
                throw new CheckFailed(`the cursor is not at ${want}; the status bar says "${await statusBarText(page, sel)}"`);
            });
        log(`cursor: ${await statusBarText(page, sel)}`);
    });

    await step('waiting for the guidecode language server to start (status-bar item past "starting")', 60_000, async () => {
        // The client registers the inline-completion provider once the server answered `initialize`;
        // the server then reports `loading` (the model) and `idle`.
        // The client retries a failed start a few times; a server still stopped after STOPPED_GRACE_MS is a failure.
        const STOPPED_GRACE_MS = 15_000;
        let last = '';
        let stoppedSince;
        for (;;) {
            const s = await guidecodeStatus(page);
            if (s !== last) {
                log(`guidecode status: ${oneLine(s)}`);
                last = s;
            }
            if (/guidecode: (loading|idle|busy)/.test(s)) {
                return;
            }
            if (/guidecode: stopped/.test(s)) {
                stoppedSince ??= Date.now();
                if (Date.now() - stoppedSince > STOPPED_GRACE_MS) {
                    throw new CheckFailed(`the guidecode language server did not start (status bar: "${oneLine(s)}"); `
                        + 'its output channel (printed by run.sh) says why');
                }
            } else {
                stoppedSince = undefined;
            }
            await page.waitForTimeout(250);
        }
    });

    // Code 1.139 binds no key to editor.action.inlineSuggest.trigger (Alt+\ did nothing), so run it
    // from the Command Palette by its title; focus and cursor go back to the editor afterwards.
    async function triggerInlineSuggest() {
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill('>Trigger Inline Suggestion');
        await page.locator('.quick-input-list .monaco-list-row[aria-label^="Trigger Inline Suggestion"]').first()
            .waitFor({ state: 'visible', timeout: 10_000 });
        await page.keyboard.press('Enter');
        await input.waitFor({ state: 'hidden', timeout: 10_000 });
    }

    const seen = await step(`triggering inline suggest (command editor.action.inlineSuggest.trigger) and waiting up to ${GHOST_TIMEOUT_MS / 1000}s for ghost text containing "${opt.expect}"`,
        GHOST_TIMEOUT_MS + 30_000, async () => {
            const deadline = Date.now() + GHOST_TIMEOUT_MS;
            let lastTrigger = 0;
            let last = '';
            let lastStatus = '';
            while (Date.now() < deadline) {
                if (Date.now() - lastTrigger >= RETRIGGER_MS) {
                    // The first request waits for the model to load: ask again now and then, as a user would.
                    await triggerInlineSuggest();
                    lastTrigger = Date.now();
                    log(`triggered; cursor: ${await statusBarText(page, '[id="status.editor.selection"]')}`);
                }
                const text = await ghostText(page);
                if (text !== last) {
                    log(`ghost text now: ${JSON.stringify(text)}`);
                    last = text;
                }
                const status = await guidecodeStatus(page);
                if (status !== lastStatus) {
                    log(`guidecode status: ${oneLine(status)}`);
                    lastStatus = status;
                }
                if (text.includes(opt.expect)) {
                    return text;
                }
                await page.waitForTimeout(250);
            }
            throw new CheckFailed(last
                ? `ghost text appeared but never contained "${opt.expect}"; last seen: ${JSON.stringify(last)}`
                : `no ghost text appeared within ${GHOST_TIMEOUT_MS / 1000}s (guidecode status: "${oneLine(lastStatus)}")`);
        });
    const cursor = await statusBarText(page, '[id="status.editor.selection"]');
    if (cursor !== `Ln ${opt.line}, Col ${opt.column}`) {
        throw new CheckFailed(`the ghost text showed, but the cursor moved to "${cursor}"`);
    }

    rmSync(opt.screenshot, { force: true });
    await page.screenshot({ path: opt.screenshot });
    // Still there after the screenshot: the picture shows what was asserted.
    const after = await ghostText(page);
    if (!after.includes(opt.expect)) {
        throw new CheckFailed(`the ghost text vanished before the screenshot was taken (now ${JSON.stringify(after)})`);
    }
    log(`PASS: ghost text at ${opt.file}:${where}: ${JSON.stringify(seen.trim())}`);
    log(`screenshot: ${opt.screenshot}`);
    exitCode = 0;
} catch (err) {
    console.error(`[e2e.mjs] FAIL: ${err instanceof CheckFailed ? err.message : err?.stack ?? err}`);
    if (page && opt['failure-screenshot']) {
        await page.screenshot({ path: opt['failure-screenshot'], timeout: 10_000 }).then(
            () => console.error(`[e2e.mjs] screenshot of the failure: ${opt['failure-screenshot']}`),
            () => undefined);
    }
} finally {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    if (opt['pid-file']) {
        rmSync(opt['pid-file'], { force: true });
    }
}
process.exit(exitCode);
