// REST client of the public API: every call carries x-api-key; every error keeps the API's body.
import { plainNumbers } from "./decimal";
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
  trace_id?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
    readonly traceId: string | null = null,
  ) {
    super(message);
  }
  /** What the console shows: the API's own message, with its code. */
  display(): string {
    return `${this.message} (${this.code}${this.status ? `, HTTP ${this.status}` : ""})`;
  }
}

export type Query = Record<string, string | number | undefined | null>;

export interface Paged<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

export type Row = Record<string, unknown>;

export class Api {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  url(path: string, query: Query = {}): string {
    const u = new URL(this.base.replace(/\/$/, "") + path);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  wsUrl(): string {
    return this.url("/ws").replace(/^http/, "ws");
  }

  async request<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url(path, query), {
        method,
        headers: {
          ...(this.key ? { "x-api-key": this.key } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new ApiError(0, "network_error", `${this.base} is not reachable: ${String(exc)}`);
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    // 207 (some items failed) is a result, not an error: the caller shows each item
    if (!response.ok) {
      const err = (parsed as { error?: ErrorBody } | null)?.error;
      if (err) throw new ApiError(response.status, err.code, err.message, err.details, err.trace_id ?? null);
      throw new ApiError(response.status, "http_error", text || response.statusText);
    }
    return parsed as T;
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>("GET", path, query);
  }
  post<T>(path: string, body: unknown, query: Query = {}): Promise<T> {
    return this.request<T>("POST", path, query, body);
  }
  put<T>(path: string, body: unknown, query: Query = {}): Promise<T> {
    return this.request<T>("PUT", path, query, body);
  }
  patch<T>(path: string, body: unknown, query: Query = {}): Promise<T> {
    return this.request<T>("PATCH", path, query, body);
  }
}

/** An error as the console shows it: the API's message and code, its decimals normalised (a
 * server message may write them as Python does: "1.000000", "0E-18"). */
export function errorText(exc: unknown): string {
  return plainNumbers(exc instanceof ApiError ? exc.display() : String(exc));
}
