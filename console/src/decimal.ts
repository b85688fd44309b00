// Exact decimal strings (the API's wire format) with BigInt: never through a float.
const SCALE = 18;
const ONE = 10n ** BigInt(SCALE);

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A decimal string, plain ("1.5") or with an exponent as Python's Decimal writes some ("0E-18"). */
export function isDecimal(s: string): boolean {
  return DECIMAL.test(s.trim());
}

/** The decimal as people read it, every digit kept: no exponent, no trailing zeros, no sign on
 * zero ("0E-18" → "0", "1.50" → "1.5", "1E+3" → "1000", "-0.0" → "0"); other text unchanged. */
export function normalise(value: string): string {
  const m = DECIMAL.exec(value.trim());
  if (!m) return value;
  const [, sign = "", whole = "", frac = "", exp = "0"] = m;
  const digits = `${whole}${frac}`.replace(/^0+/, "");
  if (!digits) return "0";
  const scale = frac.length - Number(exp); // the value is digits × 10^-scale
  if (scale <= 0) return `${sign}${digits}${"0".repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, "0");
  const decimals = padded.slice(-scale).replace(/0+$/, "");
  return `${sign}${padded.slice(0, -scale)}${decimals ? `.${decimals}` : ""}`;
}

/** Text with the decimals in it normalised (a server message's "cost 1.000000" or "0E-18");
 * integers, dates, times, versions and ids are left as they are. */
export function plainNumbers(text: string): string {
  return text.replace(/(?<![\w.:])-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)(?![\w.:])/g, normalise);
}

export function toUnits(value: string): bigint {
  if (!isDecimal(value)) throw new Error(`not a decimal: ${value}`);
  const s = normalise(value);
  const negative = s.startsWith("-");
  const [whole = "0", frac = ""] = (negative ? s.slice(1) : s).split(".");
  const units = BigInt(whole) * ONE + BigInt((frac + "0".repeat(SCALE)).slice(0, SCALE) || "0");
  return negative ? -units : units;
}

export function fromUnits(units: bigint): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const whole = abs / ONE;
  const frac = (abs % ONE).toString().padStart(SCALE, "0").replace(/0+$/, "");
  const text = frac ? `${whole}.${frac}` : `${whole}`;
  return negative && text !== "0" ? `-${text}` : text;
}

export function add(a: string, b: string): string {
  return fromUnits(toUnits(a) + toUnits(b));
}

export function sum(values: Iterable<string | null | undefined>): string {
  let total = 0n;
  for (const v of values) if (v != null && v !== "") total += toUnits(v);
  return fromUnits(total);
}

/** -1, 0, 1; null/empty sort first. */
export function compare(a: string | null | undefined, b: string | null | undefined): number {
  const ea = a == null || a === "" || !isDecimal(a);
  const eb = b == null || b === "" || !isDecimal(b);
  if (ea || eb) return ea === eb ? 0 : ea ? -1 : 1;
  const d = toUnits(a) - toUnits(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** For chart pixels only (a chart plots numbers); tables and labels keep the strings. */
export function plot(value: string): number {
  return Number(value);
}

/** Half-even division of integers (BigInt), as Python's Decimal quantize rounds. */
function divHalfEven(n: bigint, d: bigint): bigint {
  const negative = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  const twice = (an % ad) * 2n;
  if (twice > ad || (twice === ad && q % 2n === 1n)) q += 1n;
  return negative ? -q : q;
}

/** a × b × … exactly, rounded half-even to 18 places (the API's `quantize`). */
export function product(...values: string[]): string {
  let units = ONE;
  let scale = 1n;
  for (const v of values) {
    units *= toUnits(v);
    scale *= ONE;
  }
  return fromUnits(divHalfEven(units, scale));
}

/** a − b, exactly. */
export function subtract(a: string, b: string): string {
  return fromUnits(toUnits(a) - toUnits(b));
}

/** a / b rounded half-even to `places` decimals ("" when b is zero). */
export function ratio(a: string, b: string, places: number): string {
  const divisor = toUnits(b);
  if (divisor === 0n) return "";
  const q = divHalfEven(toUnits(a) * 10n ** BigInt(places), divisor);
  return fromUnits(q * 10n ** BigInt(SCALE - places));
}

/** `value` rounded half-up to the nearest multiple of `step` (a chart's price onto the tick). */
export function onStep(value: string, step: string): string {
  const v = toUnits(value);
  const st = toUnits(step);
  if (st <= 0n) return fromUnits(v);
  const n = v < 0n ? -v : v;
  const q = (n + st / 2n) / st;
  return fromUnits((v < 0n ? -q : q) * st);
}
