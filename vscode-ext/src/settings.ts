import { getConfiguration } from './vscodeapi';

export const SECTION = 'guidecode';

export const DTYPES = ['auto', 'bfloat16', 'float16', 'float32'] as const;
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
export const WEIGHTS = ['auto', 'quantized', 'dense'] as const;
export const TRACES = ['off', 'messages', 'verbose'] as const;
export const LANGUAGE_SERVERS = ['jedi', 'pyright'] as const;

/** The options object the server receives (initializationOptions and didChangeConfiguration). */
export interface GuidecodeOptions {
    model: string;
    dtype: (typeof DTYPES)[number];
    device: (typeof DEVICES)[number];
    weights: (typeof WEIGHTS)[number];
    maxTokens: number;
    debounceMs: number;
    guides: Record<string, boolean>;
    speculation: boolean;
    languageServer: (typeof LANGUAGE_SERVERS)[number];
    adadec: boolean;
    search: boolean;
    searchRollouts: number;
    searchSeconds: number;
    searchTemperature: number;
}

export interface ServerLaunch {
    command: string;
    pythonPath: string;
    args: string[];
}

export interface Settings extends GuidecodeOptions {
    server: ServerLaunch;
    trace: (typeof TRACES)[number];
}

export const DEFAULTS: Readonly<Settings> = {
    model: '0.5b',
    dtype: 'auto',
    device: 'auto',
    weights: 'auto',
    maxTokens: 64,
    debounceMs: 50,
    guides: { healing: true, monitors: true, nameChoice: true },
    speculation: true,
    languageServer: 'jedi',
    adadec: false,
    search: true,
    searchRollouts: 8,
    searchSeconds: 60,
    searchTemperature: 0.8,
    server: { command: 'guidecode', pythonPath: '', args: [] },
    trace: 'off',
};

/** Reads one key below the `guidecode` section, e.g. `server.args`. */
export type Getter = (key: string) => unknown;

// Hand-edited settings.json can hold anything; a wrong type falls back to the default
// rather than reaching the server.
function oneOf<T extends string>(allowed: readonly T[], value: unknown, fallback: T): T {
    return allowed.includes(value as T) ? (value as T) : fallback;
}

function text(value: unknown, fallback: string): string {
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
}

function count(value: unknown, min: number, fallback: number, max = Infinity): number {
    return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : fallback;
}

/** A number within [min, max]; the server refuses one outside, so it falls back here instead. */
function between(value: unknown, min: number, max: number, fallback: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}

function flag(value: unknown, fallback: boolean): boolean {
    return typeof value === 'boolean' ? value : fallback;
}

/** Every boolean under `guides`, so guide keys added later need no code change here. */
function guides(value: unknown): Record<string, boolean> {
    const result = { ...DEFAULTS.guides };
    if (value && typeof value === 'object') {
        for (const [key, on] of Object.entries(value)) {
            if (typeof on === 'boolean') {
                result[key] = on;
            }
        }
    }
    return result;
}

export function readSettings(get: Getter): Settings {
    const args = get('server.args');
    return {
        model: text(get('model'), DEFAULTS.model),
        dtype: oneOf(DTYPES, get('dtype'), DEFAULTS.dtype),
        device: oneOf(DEVICES, get('device'), DEFAULTS.device),
        weights: oneOf(WEIGHTS, get('weights'), DEFAULTS.weights),
        maxTokens: count(get('maxTokens'), 1, DEFAULTS.maxTokens),
        debounceMs: count(get('debounceMs'), 0, DEFAULTS.debounceMs),
        guides: guides(get('guides')),
        speculation: flag(get('speculation'), DEFAULTS.speculation),
        languageServer: oneOf(LANGUAGE_SERVERS, get('languageServer'), DEFAULTS.languageServer),
        adadec: flag(get('adadec'), DEFAULTS.adadec),
        search: flag(get('search'), DEFAULTS.search),
        searchRollouts: count(get('searchRollouts'), 1, DEFAULTS.searchRollouts, 256),
        searchSeconds: between(get('searchSeconds'), 1, 3600, DEFAULTS.searchSeconds),
        searchTemperature: between(get('searchTemperature'), 0, 2, DEFAULTS.searchTemperature),
        server: {
            command: text(get('server.command'), DEFAULTS.server.command),
            pythonPath: text(get('server.pythonPath'), ''),
            args: Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [],
        },
        trace: oneOf(TRACES, get('trace.server'), DEFAULTS.trace),
    };
}

/** The part of the settings the server itself reads; how it is launched is none of its business. */
export function serverOptionsOf(settings: Settings): GuidecodeOptions {
    const { server, trace, ...options } = settings;
    return options;
}

export function currentSettings(): Settings {
    const config = getConfiguration(SECTION);
    return readSettings((key) => config.get(key));
}
