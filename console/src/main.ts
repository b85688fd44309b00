import "./styles.css";
import { errorText } from "./api";
import { field, h, input, select } from "./dom";
import { LANGUAGES, missingLabels, missingValues, setLanguage, t, valueLabel } from "./i18n";
import { metrics } from "./metrics";
import { SCREENS, type Screen } from "./screens/registry";
import { recordEvents } from "./screens/system";
import { Session } from "./session";
import { chartStates } from "./screens/candles";
import "./screens/accounts";
import "./screens/terminal";
import "./screens/trade";
import "./screens/monitor";
import "./screens/system";
import "./screens/charts";
import "./screens/people";
import "./screens/operations";

/** What tests and the benchmark read from the page (no state of its own). */
interface ConsoleHandle {
  session: Session | null;
  metrics: typeof metrics;
  charts: typeof chartStates;
  languages: typeof LANGUAGES;
  missingLabels: typeof missingLabels;
  missingValues: typeof missingValues;
}

declare global {
  interface Window {
    omsConsole?: ConsoleHandle;
  }
}

function handle(s: Session | null): ConsoleHandle {
  return { session: s, metrics, charts: chartStates, languages: LANGUAGES, missingLabels, missingValues };
}

const app = document.getElementById("app") as HTMLElement;
let session: Session | null = null;
let cleanup: (() => void) | void = undefined;
window.omsConsole = handle(null);

function lang(): string {
  return localStorage.getItem("oms.lang") ?? "en";
}

function loginScreen(error = ""): void {
  setLanguage(lang());
  const base = input("base_url", { value: localStorage.getItem("oms.base") ?? window.location.origin, required: true });
  const key = input("api_key", { type: "password", required: true, autocomplete: "off" });
  const language = select("language", Object.entries(LANGUAGES).map(([c, l]): [string, string] => [c, l.name]), lang());
  language.addEventListener("change", () => {
    localStorage.setItem("oms.lang", language.value);
    loginScreen();
  });
  const msg = h("div", { class: error ? "msg error" : "msg", "data-testid": "login-error", role: "alert" }, error);
  const userName = input("user_name", { autocomplete: "username" });
  const password = input("password", { type: "password", autocomplete: "current-password" });
  const busy = (on: boolean): void => app.querySelectorAll("button[type=submit]").forEach((b) => ((b as HTMLButtonElement).disabled = on));
  const enter = async (open: () => Promise<Session>): Promise<void> => {
    busy(true);
    try {
      const s = await open();
      localStorage.setItem("oms.base", base.value.trim());
      sessionStorage.setItem("oms.key", s.api.key);
      if (s.isToken) sessionStorage.setItem("oms.token", "1");
      else sessionStorage.removeItem("oms.token");
      start(s);
    } catch (exc) {
      msg.textContent = errorText(exc);
      msg.className = "msg error";
    } finally {
      busy(false);
    }
  };
  const button = h("button", { type: "submit", "data-testid": "login-submit" }, t("login"));
  const keyForm = h("form", {
    "data-form": "login-key",
    onsubmit: (e: Event) => {
      e.preventDefault();
      void enter(() => Session.open(base.value.trim(), key.value.trim()));
    },
  }, h("h3", {}, t("login_key")), field(t("api_key"), key), button);
  const passwordForm = h("form", {
    "data-form": "login-password",
    onsubmit: (e: Event) => {
      e.preventDefault();
      void enter(async () => {
        const b = base.value.trim();
        const token = await Session.loginPassword(b, userName.value.trim(), password.value);
        return Session.open(b, token, true);
      });
    },
  }, h("h3", {}, t("login_password")), field(t("user_name"), userName), field(t("password"), password),
  h("button", { type: "submit", "data-testid": "login-password-submit" }, t("login")));
  app.replaceChildren(h("div", { class: "login card", "data-screen": "login" },
    h("h1", {}, t("app_title")), field(t("base_url"), base), field(t("language"), language),
    keyForm, h("p", { class: "hint" }, t("login_or")), passwordForm,
    h("p", { class: "hint" }, t("login_hint")), msg));
  key.focus();
}

function visibleScreens(s: Session): Screen[] {
  return SCREENS.filter((sc) => sc.visible(s));
}

function start(s: Session): void {
  session = s;
  window.omsConsole = handle(s);
  s.live.start();
  const readable = s.accounts.filter((a) => s.canRead(a)).map((a) => a.id).join(",");
  void s.marks.seed(readable).catch(() => undefined); // venues that push no ticker yet
  recordEvents(s);
  window.addEventListener("hashchange", route);
  if (!location.hash) location.hash = "#/accounts";
  route();
}

function logout(): void {
  // a login token is revoked on the server; an ordinary API key stays valid (disable it instead)
  if (session?.isToken) void session.api.post("/auth/logout", {}).catch(() => undefined);
  session?.live.stop();
  session = null;
  window.omsConsole = handle(null);
  sessionStorage.removeItem("oms.key");
  sessionStorage.removeItem("oms.token");
  window.removeEventListener("hashchange", route);
  if (cleanup) cleanup();
  cleanup = undefined;
  location.hash = "";
  loginScreen();
}

function statusPill(s: Session): HTMLElement {
  const pill = h("button", { type: "button", class: "pill", "data-testid": "live-status", title: t("reconnect") });
  const paint = (): void => {
    pill.dataset["status"] = s.live.status;
    pill.textContent = s.live.authError ? s.live.authError : `${t(s.live.status === "live" ? "live" : s.live.status === "connecting" ? "connecting" : "offline")}${s.live.lastSeq !== null ? ` · seq ${s.live.lastSeq}` : ""}`;
    pill.className = `pill ${s.live.status}`;
  };
  pill.addEventListener("click", () => { s.live.suspend(); s.live.resume(); });
  s.live.onStatus(paint);
  s.live.onEvent(paint);
  paint();
  return pill;
}

function route(): void {
  const s = session;
  if (!s) return;
  if (cleanup) cleanup();
  cleanup = undefined;
  const screens = visibleScreens(s);
  const id = location.hash.replace(/^#\//, "") || "accounts";
  const screen = screens.find((sc) => sc.id === id) ?? screens[0];
  const nav = h("nav", {}, ...screens.map((sc) =>
    h("a", { href: `#/${sc.id}`, class: `${sc.id === screen?.id ? "active" : ""} ${sc.group ?? ""}`, "data-testid": `nav-${sc.id}` }, t(sc.label))));
  const main = h("main", { "data-screen": screen?.id ?? "" });
  const header = h("header", {},
    h("strong", {}, t("app_title")), nav,
    h("span", { class: "who", "data-testid": "who" }, `${s.profile.name} · ${valueLabel(s.profile.role)}`),
    statusPill(s),
    h("button", { type: "button", onclick: logout, "data-testid": "logout" }, t("logout")));
  app.replaceChildren(header, main);
  if (screen) {
    try {
      cleanup = screen.render(main, s);
    } catch (exc) {
      main.append(h("div", { class: "msg error" }, errorText(exc)));
    }
  }
}

setLanguage(lang());
const savedKey = sessionStorage.getItem("oms.key");
const savedBase = localStorage.getItem("oms.base");
if (savedKey && savedBase) {
  Session.open(savedBase, savedKey, sessionStorage.getItem("oms.token") === "1").then(start, (exc: unknown) => loginScreen(errorText(exc)));
} else loginScreen();
