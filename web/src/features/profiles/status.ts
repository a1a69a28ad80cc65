/** What the top of a profile page says about each channel, and how each message went. */
import type { ChannelConsent, MessageEngagement } from "../../api/client";

export interface StatusBadge {
  label: string;
  color: string;
  /** Why, for a tooltip. */
  detail: string;
}

/** One badge per channel: suppressed, unsubscribed, subscribed / may receive, or why not. */
export function channelBadge(channel: "email" | "sms", state: ChannelConsent, address: string | null | undefined): StatusBadge {
  const name = channel === "sms" ? "SMS" : "Email";
  if (!address) return { label: `No ${channel === "sms" ? "phone" : "email"}`, color: "gray", detail: `Nothing can be sent by ${name}: no ${channel === "sms" ? "phone number" : "address"}.` };
  if (state.suppressed) return { label: `${name} suppressed`, color: "red", detail: `${address} is on the suppression list: nothing is sent to it.` };
  if (state.status === "unsubscribed") return { label: `${name} unsubscribed`, color: "orange", detail: `No marketing by ${name}; transactional messages still go.` };
  if (state.can_receive_marketing) {
    return {
      label: state.status === "subscribed" ? `${name} subscribed` : `${name} OK`,
      color: "teal",
      detail: `Marketing by ${name} may be sent.`,
    };
  }
  return { label: `${name}: no consent`, color: "gray", detail: `Marketing by ${name} needs consent first.` };
}

/** "Opened 2×", "Clicked", "Bounced"...: what happened to a message; "Not opened" for an email
 * nothing happened to. */
export function engagementLabels(engagement: MessageEngagement | null | undefined, channel: string): { label: string; color: string }[] {
  if (!engagement) return [];
  const times = (n: number) => (n > 1 ? ` ${n}×` : "");
  const labels: { label: string; color: string }[] = [];
  if (engagement.opened) labels.push({ label: `Opened${times(engagement.opened)}`, color: "blue" });
  if (engagement.clicked) labels.push({ label: `Clicked${times(engagement.clicked)}`, color: "teal" });
  if (engagement.unsubscribed) labels.push({ label: "Unsubscribed", color: "orange" });
  if (engagement.bounced) labels.push({ label: "Bounced", color: "red" });
  if (engagement.complained) labels.push({ label: "Marked as spam", color: "red" });
  if (labels.length === 0 && channel === "email") labels.push({ label: "Not opened", color: "gray" });
  return labels;
}
