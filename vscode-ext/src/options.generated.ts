// Generated from assistant/options.py by `python -m assistant.options_files`; do not edit.

export interface OptionSpec {
    key: string;
    type: 'boolean' | 'integer' | 'number' | 'string';
    enum?: readonly string[];
    minimum?: number;
    maximum?: number;
}

/** The options object the server receives (initializationOptions and didChangeConfiguration). */
export interface GuidecodeOptions {
    model: string;
    dtype: 'auto' | 'bfloat16' | 'float16' | 'float32';
    device: 'auto' | 'cpu' | 'cuda';
    weights: 'auto' | 'quantized' | 'dense';
    maxTokens: number;
    maxPromptTokens: number;
    speculation: boolean;
    context: { tokens: number; when: 'unsure' | 'always'; confidence: number; recent: boolean; };
    guides: { healing: boolean; monitors: boolean; nameChoice: boolean; };
    languageServer: 'jedi' | 'pyright';
    adadec: boolean;
    search: boolean;
    searchRollouts: number;
    searchSeconds: number;
    searchTemperature: number;
    debounceMs: number;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
    {"key": "model", "type": "string"},
    {"key": "dtype", "type": "string", "enum": ["auto", "bfloat16", "float16", "float32"]},
    {"key": "device", "type": "string", "enum": ["auto", "cpu", "cuda"]},
    {"key": "weights", "type": "string", "enum": ["auto", "quantized", "dense"]},
    {"key": "maxTokens", "type": "integer", "minimum": 1, "maximum": 8192},
    {"key": "maxPromptTokens", "type": "integer", "minimum": 16, "maximum": 32768},
    {"key": "speculation", "type": "boolean"},
    {"key": "context.tokens", "type": "integer", "minimum": 0, "maximum": 8192},
    {"key": "context.when", "type": "string", "enum": ["unsure", "always"]},
    {"key": "context.confidence", "type": "number", "minimum": 0.01, "maximum": 1},
    {"key": "context.recent", "type": "boolean"},
    {"key": "guides.healing", "type": "boolean"},
    {"key": "guides.monitors", "type": "boolean"},
    {"key": "guides.nameChoice", "type": "boolean"},
    {"key": "languageServer", "type": "string", "enum": ["jedi", "pyright"]},
    {"key": "adadec", "type": "boolean"},
    {"key": "search", "type": "boolean"},
    {"key": "searchRollouts", "type": "integer", "minimum": 1, "maximum": 256},
    {"key": "searchSeconds", "type": "number", "minimum": 1, "maximum": 3600},
    {"key": "searchTemperature", "type": "number", "minimum": 0, "maximum": 2},
    {"key": "debounceMs", "type": "integer", "minimum": 0, "maximum": 5000},
];

export const OPTION_DEFAULTS: GuidecodeOptions = {"model": "0.5b", "dtype": "auto", "device": "auto", "weights": "auto", "maxTokens": 64, "maxPromptTokens": 1024, "speculation": true, "context": {"tokens": 0, "when": "unsure", "confidence": 0.3, "recent": true}, "guides": {"healing": true, "monitors": true, "nameChoice": true}, "languageServer": "jedi", "adadec": false, "search": true, "searchRollouts": 8, "searchSeconds": 60.0, "searchTemperature": 0.8, "debounceMs": 50};
