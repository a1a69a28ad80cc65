import { Tabs } from "@mantine/core";
import {
  IconArchive,
  IconBuilding,
  IconGauge,
  IconKey,
  IconLock,
  IconMail,
  IconMessage,
  IconMessages,
  IconUsers,
  IconWebhook,
} from "@tabler/icons-react";
import { Outlet, useLocation, useNavigate } from "react-router";
import { PageHeader } from "../../components/PageHeader";

const TABS = [
  { value: "organization", label: "Organization", icon: IconBuilding },
  { value: "api-keys", label: "API keys", icon: IconKey },
  { value: "rate-limits", label: "Rate limits", icon: IconGauge },
  { value: "team", label: "Team", icon: IconUsers },
  { value: "email", label: "Email", icon: IconMail },
  { value: "flow-webhooks", label: "Flow webhooks", icon: IconWebhook },
  { value: "sms", label: "SMS", icon: IconMessage },
  { value: "sms-templates", label: "SMS templates", icon: IconMessages },
  { value: "retention", label: "Retention", icon: IconArchive },
  { value: "account", label: "Your account", icon: IconLock },
] as const;

export function SettingsLayout() {
  const location = useLocation();
  const navigate = useNavigate();
  const current = TABS.find((tab) => `${location.pathname}/`.startsWith(`/settings/${tab.value}/`))?.value ?? "organization";
  return (
    <>
      <PageHeader title="Settings" />
      <Tabs value={current} onChange={(value) => value && void navigate(`/settings/${value}`)} mb="lg">
        <Tabs.List aria-label="Settings sections">
          {TABS.map((tab) => (
            <Tabs.Tab key={tab.value} value={tab.value} leftSection={<tab.icon size={16} aria-hidden />}>
              {tab.label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
      </Tabs>
      <Outlet />
    </>
  );
}
