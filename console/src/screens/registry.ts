// Every screen is one entry: shown in the navigation when visible(session) says so (its
// endpoints exist on this server and the key may use them). New screens slot in here.
import type { LabelKey } from "../i18n/en";
import type { Session } from "../session";

export interface Screen {
  id: string;
  label: LabelKey;
  group?: "admin" | "risk";
  visible(s: Session): boolean;
  /** Builds the screen into root; returns a cleanup for listeners and grids. */
  render(root: HTMLElement, s: Session): (() => void) | void;
}

export const SCREENS: Screen[] = [];

/** Navigation order; screens not listed go last, in registration order. */
const ORDER = ["accounts", "terminal", "trade", "monitor", "charts", "system", "operations", "strategies", "profile", "risk"];

export function register(...screens: Screen[]): void {
  SCREENS.push(...screens);
  const rank = (sc: Screen): number => (ORDER.includes(sc.id) ? ORDER.indexOf(sc.id) : ORDER.length);
  SCREENS.sort((a, b) => rank(a) - rank(b));
}
