// What the logged-in key is and may do: read from /user/profile, /oms/accounts and the server's
// OpenAPI document (screens for endpoints the server does not have are not offered).
import { Api } from "./api";
import { LiveStream } from "./live";
import { MarketFeed } from "./market";
import { LiveMarks } from "./marks";
import type { Schema } from "./schemaform";

interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> } }>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface Permissions {
  can_read: boolean;
  can_trade: boolean;
  can_close_position: boolean;
  can_risk_manage: boolean;
  can_block_new_positions: boolean;
  can_block_account: boolean;
  restrict_to_strategies: boolean;
  strategy_ids: number[];
}

export interface Account {
  id: number;
  exchange_id: string;
  label: string;
  position_mode: string;
  environment: string;
  status: string;
  allow_new_positions: boolean;
  out_of_sync: boolean;
  out_of_sync_blocks?: boolean;
  shadow?: boolean;
  permissions: Permissions | null;
}

export interface Profile {
  user_id: number;
  name: string;
  role: string;
  api_key: { id: number; label: string | null; prefix: string; kind: string };
}

const TRADING_ROLES = new Set(["trader", "portfolio_manager", "robot"]);

export class Session {
  live: LiveStream;
  /** market data over the socket, shared by every screen */
  readonly market: MarketFeed;
  /** mark prices of the open positions (live PnL) */
  readonly marks: LiveMarks;
  constructor(
    readonly api: Api,
    readonly profile: Profile,
    public accounts: Account[],
    readonly endpoints: Set<string>,
    /** logged in with user name and password: logout revokes the token (POST /auth/logout) */
    readonly isToken = false,
    /** the server's OpenAPI document: request schemas for the forms built from them */
    readonly openapi: OpenApiDoc | null = null,
  ) {
    this.live = new LiveStream(api, accounts.map((a) => a.id));
    this.market = new MarketFeed(this.live);
    this.marks = new LiveMarks(this.live.books, this.market, api);
  }

  /** POST /auth/login-password: a login token, used as x-api-key like any key. */
  static async loginPassword(base: string, userName: string, password: string): Promise<string> {
    const res = await new Api(base, "").post<{ token: string }>("/auth/login-password", { user_name: userName, password });
    return res.token;
  }

  static async open(base: string, key: string, isToken = false): Promise<Session> {
    const api = new Api(base, key);
    const profile = await api.get<Profile>("/user/profile");
    const accounts = (await api.get<{ items: Account[] }>("/oms/accounts")).items;
    const endpoints = new Set<string>();
    let doc: OpenApiDoc | null = null;
    try {
      doc = await api.get<OpenApiDoc>("/openapi.json");
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) endpoints.add(`${method.toUpperCase()} ${path}`);
      }
    } catch {
      // no OpenAPI document: offer only the screens of the core API
    }
    return new Session(api, profile, accounts, endpoints, isToken || profile.api_key.kind === "login_token", doc);
  }

  /** The JSON request body schema of `method path`, as the server declares it. */
  requestSchema(method: string, path: string): Schema | null {
    return this.openapi?.paths[path]?.[method.toLowerCase()]?.requestBody?.content?.["application/json"]?.schema ?? null;
  }

  schemaNamed(name: string): Schema | null {
    return this.openapi?.components?.schemas?.[name] ?? null;
  }

  has(endpoint: string): boolean {
    return this.endpoints.has(endpoint);
  }

  get isAdmin(): boolean {
    return this.profile.role === "admin";
  }

  canTrade(a: Account): boolean {
    return TRADING_ROLES.has(this.profile.role) && Boolean(a.permissions?.can_trade);
  }

  /** close_position, close_by, a reduce-only send: a trading role or risk, with can_close_position. */
  canClose(a: Account): boolean {
    return (TRADING_ROLES.has(this.profile.role) || this.profile.role === "risk") && Boolean(a.permissions?.can_close_position);
  }

  /** cancel_order, cancel_all_orders: can_trade under a trading role, or can_risk_manage for risk. */
  canCancel(a: Account): boolean {
    return this.canTrade(a) || (this.profile.role === "risk" && Boolean(a.permissions?.can_risk_manage));
  }

  /** The send form: any order (can_trade), or reduce-only orders only (can_close_position). */
  canSend(a: Account): boolean {
    return this.canTrade(a) || this.canClose(a);
  }

  canRisk(a: Account): boolean {
    return this.profile.role === "risk" && Boolean(a.permissions?.can_risk_manage);
  }

  /** Allow / stop new positions (account or strategy): risk role, can_risk_manage + can_block_new_positions. */
  canAllowNew(a: Account): boolean {
    return this.canRisk(a) && Boolean(a.permissions?.can_block_new_positions);
  }

  /** Block / unblock the account: risk role, can_risk_manage + can_block_account. */
  canBlock(a: Account): boolean {
    return this.canRisk(a) && Boolean(a.permissions?.can_block_account);
  }

  canRead(a: Account): boolean {
    return this.isAdmin || Boolean(a.permissions?.can_read);
  }

  get tradeAccounts(): Account[] {
    return this.accounts.filter((a) => this.canTrade(a));
  }
  get closeAccounts(): Account[] {
    return this.accounts.filter((a) => this.canClose(a));
  }
  get cancelAccounts(): Account[] {
    return this.accounts.filter((a) => this.canCancel(a));
  }
  get sendAccounts(): Account[] {
    return this.accounts.filter((a) => this.canSend(a));
  }
  get accountIds(): string {
    return this.accounts.map((a) => a.id).join(",");
  }
  accountOptions(list: Account[] = this.accounts): [string, string][] {
    return list.map((a) => [String(a.id), `#${a.id} ${a.label} (${a.exchange_id}, ${a.position_mode})`]);
  }
}
