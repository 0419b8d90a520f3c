import { GuidecodeOptions, OPTION_DEFAULTS, OPTION_SPECS, OptionSpec } from './options.generated';
import { getConfiguration } from './vscodeapi';

export const SECTION = 'guidecode';

export type { GuidecodeOptions };

export const TRACES = ['off', 'messages', 'verbose'] as const;

export interface ServerLaunch {
    command: string;
    pythonPath: string;
    args: string[];
}

export interface Settings extends GuidecodeOptions {
    server: ServerLaunch;
    trace: (typeof TRACES)[number];
    languages: string[]; // the language ids served; '*' is every language
}

export const DEFAULTS: Readonly<Settings> = {
    ...OPTION_DEFAULTS,
    server: { command: 'guidecode', pythonPath: '', args: [] },
    trace: 'off',
    languages: ['*'],
};

/** Reads one key below the `guidecode` section, e.g. `server.args`. */
export type Getter = (key: string) => unknown;

// Hand-edited settings.json can hold anything; a value the server would refuse (its rules are
// OPTION_SPECS, generated from the same schema) falls back to the default rather than reaching it.
function oneOf<T extends string>(allowed: readonly T[], value: unknown, fallback: T): T {
    return allowed.includes(value as T) ? (value as T) : fallback;
}

function text(value: unknown, fallback: string): string {
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
}

function valid(spec: OptionSpec, value: unknown): boolean {
    if (spec.type === 'boolean') {
        return typeof value === 'boolean';
    }
    if (spec.type === 'string') {
        return typeof value === 'string' && value.trim() !== '' && (!spec.enum || spec.enum.includes(value.trim()));
    }
    const number = typeof value === 'number' && Number.isFinite(value) && (spec.type === 'number' || Number.isInteger(value));
    return number && (spec.minimum === undefined || (value as number) >= spec.minimum) && (spec.maximum === undefined || (value as number) <= spec.maximum);
}

/** A setting's value: `guides.healing` is set either under that key or inside the `guides` object. */
function lookup(get: Getter, key: string): unknown {
    const [head, tail] = key.split('.', 2);
    const value = get(key);
    if (value !== undefined || tail === undefined) {
        return value;
    }
    const group = get(head);
    return group && typeof group === 'object' ? (group as Record<string, unknown>)[tail] : undefined;
}

/** Every option the server takes, each valid by its rule or else its default. */
function readOptions(get: Getter): GuidecodeOptions {
    const options = structuredClone(OPTION_DEFAULTS) as unknown as Record<string, unknown>;
    for (const spec of OPTION_SPECS) {
        const value = lookup(get, spec.key);
        if (!valid(spec, value)) {
            continue;
        }
        const [head, tail] = spec.key.split('.', 2);
        const clean = typeof value === 'string' ? value.trim() : value;
        if (tail === undefined) {
            options[head] = clean;
        } else {
            (options[head] as Record<string, unknown>)[tail] = clean;
        }
    }
    return options as unknown as GuidecodeOptions;
}

export function readSettings(get: Getter): Settings {
    const args = get('server.args');
    return {
        ...readOptions(get),
        server: {
            command: text(get('server.command'), DEFAULTS.server.command),
            pythonPath: text(get('server.pythonPath'), ''),
            args: Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [],
        },
        trace: oneOf(TRACES, get('trace.server'), DEFAULTS.trace),
        languages: languageIds(get('languages')),
    };
}

/** A list of language ids; an empty or malformed one serves every language rather than none. */
function languageIds(value: unknown): string[] {
    const ids = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim()) : [];
    return ids.length ? ids : [...DEFAULTS.languages];
}

/** The part of the settings the server itself reads; how it is launched is none of its business. */
export function serverOptionsOf(settings: Settings): GuidecodeOptions {
    const { server, trace, languages, ...options } = settings;
    return options;
}

export function currentSettings(): Settings {
    const config = getConfiguration(SECTION);
    return readSettings((key) => config.get(key));
}
