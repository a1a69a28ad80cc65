/** Every area of the product, in the order the navigation shows them. Areas that are not built
 * yet are listed with what they will do, so that the dashboard's shape is honest from day one. */
import {
  IconActivity,
  IconBan,
  IconChartBar,
  IconFilter,
  IconFileImport,
  IconHierarchy2,
  IconMail,
  IconRocket,
  IconSend,
  IconSettings,
  IconTemplate,
  IconUsers,
  type Icon,
} from "@tabler/icons-react";

export interface Area {
  label: string;
  path: string;
  icon: Icon;
  group: "Audience" | "Messaging" | "Insights" | "Setup";
  /** Other paths that belong to this area (the navigation shows it as the current one). */
  also?: readonly string[];
  /** Not built yet: the screen says so and what it will do. */
  planned?: string;
}

export const AREAS: readonly Area[] = [
  { label: "Profiles", path: "/profiles", icon: IconUsers, group: "Audience" },
  { label: "Imports", path: "/imports", icon: IconFileImport, group: "Audience" },
  { label: "Events", path: "/events", icon: IconActivity, group: "Audience" },
  {
    label: "Segments",
    path: "/segments",
    icon: IconFilter,
    group: "Audience",
  },
  { label: "Suppressions", path: "/suppressions", icon: IconBan, group: "Audience" },
  { label: "Campaigns", path: "/campaigns", icon: IconSend, group: "Messaging" },
  { label: "Flows", path: "/flows", icon: IconHierarchy2, group: "Messaging" },
  { label: "Templates", path: "/templates", icon: IconTemplate, group: "Messaging" },
  // A message's page is reached from the outbox (and from profiles).
  { label: "Outbox", path: "/outbox", icon: IconMail, group: "Messaging", also: ["/messages"] },
  {
    label: "Analytics",
    path: "/analytics",
    icon: IconChartBar,
    group: "Insights",
    planned: "Analytics will report deliveries, opens, clicks and the revenue that campaigns and flows brought in.",
  },
  { label: "Send your first event", path: "/get-started", icon: IconRocket, group: "Setup" },
  { label: "Settings", path: "/settings", icon: IconSettings, group: "Setup" },
];

/** Whether `pathname` is inside `area` (its own path, a path below it, or one it also covers). */
export function isInArea(area: Area, pathname: string): boolean {
  return [area.path, ...(area.also ?? [])].some((path) => pathname === path || pathname.startsWith(`${path}/`));
}

export const GROUPS: readonly Area["group"][] = ["Audience", "Messaging", "Insights", "Setup"];
