// Exact decimal strings (the API's wire format) with BigInt: never through a float.
const SCALE = 18;
const ONE = 10n ** BigInt(SCALE);

export function isDecimal(s: string): boolean {
  return /^-?\d+(\.\d+)?$/.test(s.trim());
}

export function toUnits(value: string): bigint {
  const s = value.trim();
  if (!isDecimal(s)) throw new Error(`not a decimal: ${value}`);
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
