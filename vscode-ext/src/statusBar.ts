import type { StatusBarItem } from 'vscode';
import { createStatusBarItem } from './vscodeapi';

/** `loading`, `idle` and `busy` come from the server; `starting` and `stopped` are the client's own. */
export type ServerState = 'starting' | 'loading' | 'idle' | 'busy' | 'stopped';

/** Params of the server's `guidecode/status` notification. */
export interface ServerStatus {
    state: ServerState;
    model: string;
    lastLatencyMs: number | null;
    detail?: string;
}

const ICONS: Record<ServerState, string> = {
    starting: '$(sync~spin)',
    loading: '$(sync~spin)',
    busy: '$(sync~spin)',
    idle: '$(check)',
    stopped: '$(circle-slash)',
};

export function statusText(status: ServerStatus): string {
    const model = status.model ? ` ${status.model}` : '';
    switch (status.state) {
        case 'starting':
            return `${ICONS.starting} guidecode`;
        case 'stopped':
            return `${ICONS.stopped} guidecode`;
        case 'loading':
            return `${ICONS.loading} guidecode: loading${model}`;
        default: {
            const latency = status.lastLatencyMs === null ? '' : ` ${Math.round(status.lastLatencyMs)} ms`;
            return `${ICONS[status.state]} guidecode${model}${latency}`;
        }
    }
}

export function statusTooltip(status: ServerStatus): string {
    const lines = [`guidecode: ${status.state}`];
    if (status.model) {
        lines.push(`Model: ${status.model}`);
    }
    if (status.lastLatencyMs !== null) {
        lines.push(`Last completion: ${Math.round(status.lastLatencyMs)} ms`);
    }
    if (status.detail) {
        lines.push(status.detail);
    }
    lines.push('Click for statistics');
    return lines.join('\n');
}

const STATES: readonly ServerState[] = ['starting', 'loading', 'idle', 'busy', 'stopped'];

/** Validates a notification's params; anything malformed keeps what was known before. */
export function parseStatus(params: unknown, previous: ServerStatus): ServerStatus {
    const p = (params ?? {}) as Record<string, unknown>;
    return {
        state: STATES.includes(p.state as ServerState) ? (p.state as ServerState) : previous.state,
        model: typeof p.model === 'string' ? p.model : previous.model,
        lastLatencyMs: typeof p.lastLatencyMs === 'number' || p.lastLatencyMs === null
            ? p.lastLatencyMs
            : previous.lastLatencyMs,
    };
}

export class StatusBar {
    private readonly item: StatusBarItem = createStatusBarItem();
    private status: ServerStatus = { state: 'starting', model: '', lastLatencyMs: null };

    constructor() {
        this.item.name = 'guidecode';
        this.item.command = 'guidecode.showStats';
        this.render();
        this.item.show();
    }

    get current(): ServerStatus {
        return this.status;
    }

    /** Merges a notification from the server (raw params) into the shown status. */
    fromServer(params: unknown): void {
        this.status = parseStatus(params, this.status);
        this.render();
    }

    set(state: ServerState, detail?: string): void {
        this.status = { ...this.status, state, detail };
        this.render();
    }

    dispose(): void {
        this.item.dispose();
    }

    private render(): void {
        this.item.text = statusText(this.status);
        this.item.tooltip = statusTooltip(this.status);
    }
}
