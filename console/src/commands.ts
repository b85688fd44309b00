// POST /oms/commands for one command, waiting for it to complete: the one path every form,
// row action and the order ticket send through. The result, or the API's refusal, as text.
import type { Row } from "./api";
import { t } from "./i18n";
import type { Session } from "./session";

interface CommandItem {
  index: number;
  ok: boolean;
  command_id: number | null;
  order_id: number | null;
  status: string | null;
  error: { code: string; message: string } | null;
  /** a shadowed account or strategy: validated and recorded, never sent (signals.md) */
  shadow?: boolean;
}

export async function submitCommand(s: Session, accountId: number, command: string, payload: Row): Promise<string> {
  const res = await s.api.post<{ results: CommandItem[] }>(
    "/oms/commands", { account_id: accountId, command, payload }, { wait: "completed" });
  const item = res.results[0];
  if (!item) return "";
  if (!item.ok) throw new Error(`${item.error?.message ?? "failed"} (${item.error?.code ?? ""})`);
  const shadow = item.shadow ? ` · ${t("shadow_result")}` : "";
  return `${t("accepted")}: command #${item.command_id}${item.order_id ? `, order #${item.order_id}` : ""} → ${item.status}${shadow}`;
}

