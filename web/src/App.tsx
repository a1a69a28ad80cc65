/** Routes: the sign-in page, and every other screen inside the signed-in shell. */
import { Navigate, Route, Routes } from "react-router";
import { RequireAuth } from "./auth/session";
import { SignInPage } from "./auth/SignInPage";
import { CampaignEditorPage } from "./features/campaigns/CampaignEditorPage";
import { CampaignPage } from "./features/campaigns/CampaignPage";
import { CampaignsPage } from "./features/campaigns/CampaignsPage";
import { MessagePage } from "./features/messages/MessagePage";
import { MessagesPage } from "./features/messages/MessagesPage";
import { OutboxMessagePage } from "./features/outbox/OutboxMessagePage";
import { OutboxPage } from "./features/outbox/OutboxPage";
import { SuppressionsPage } from "./features/suppressions/SuppressionsPage";
import { ImagesPage } from "./features/images/ImagesPage";
import { TemplateEditorPage } from "./features/templates/TemplateEditorPage";
import { TemplatesPage } from "./features/templates/TemplatesPage";
import { EmailSettings } from "./features/settings/EmailSettings";
import { FlowWebhookSettings } from "./features/settings/FlowWebhookSettings";
import { EventsPage } from "./features/events/EventsPage";
import { EnrolmentsPage } from "./features/flows/EnrolmentsPage";
import { FlowBuilderPage } from "./features/flows/FlowBuilderPage";
import { FlowsPage } from "./features/flows/FlowsPage";
import { ImportsPage } from "./features/imports/ImportsPage";
import { GetStartedPage } from "./features/onboarding/GetStartedPage";
import { NotFoundPage } from "./features/placeholder/NotFoundPage";
import { PlannedAreaPage } from "./features/placeholder/PlannedAreaPage";
import { ProfilePage } from "./features/profiles/ProfilePage";
import { ProfilesPage } from "./features/profiles/ProfilesPage";
import { SegmentEditorPage } from "./features/segments/SegmentEditorPage";
import { SegmentPage } from "./features/segments/SegmentPage";
import { SegmentsPage } from "./features/segments/SegmentsPage";
import { AccountSettings } from "./features/settings/AccountSettings";
import { ApiKeysSettings } from "./features/settings/ApiKeysSettings";
import { OrganizationSettings } from "./features/settings/OrganizationSettings";
import { RateLimitsSettings } from "./features/settings/RateLimitsSettings";
import { RetentionSettings } from "./features/settings/RetentionSettings";
import { SettingsLayout } from "./features/settings/SettingsLayout";
import { SmsSettings } from "./features/settings/SmsSettings";
import { SmsTemplatesSettings } from "./features/settings/SmsTemplatesSettings";
import { TeamSettings } from "./features/settings/TeamSettings";
import { AnalyticsPage } from "./features/analytics/AnalyticsPage";
import { HomePage } from "./features/home/HomePage";
import { AppLayout } from "./shell/AppLayout";
import { AREAS } from "./shell/navigation";

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route element={<RequireAuth />}>
        <Route element={<AppLayout />}>
          <Route index element={<HomePage />} />
          <Route path="analytics" element={<AnalyticsPage />} />
          <Route path="profiles" element={<ProfilesPage />} />
          <Route path="profiles/:profileId" element={<ProfilePage />} />
          <Route path="imports" element={<ImportsPage />} />
          <Route path="events" element={<EventsPage />} />
          <Route path="segments" element={<SegmentsPage />} />
          <Route path="segments/new" element={<SegmentEditorPage />} />
          <Route path="segments/:segmentId" element={<SegmentPage />} />
          <Route path="segments/:segmentId/edit" element={<SegmentEditorPage />} />
          <Route path="suppressions" element={<SuppressionsPage />} />
          <Route path="campaigns" element={<CampaignsPage />} />
          <Route path="campaigns/new" element={<CampaignEditorPage />} />
          <Route path="campaigns/:campaignId" element={<CampaignPage />} />
          <Route path="campaigns/:campaignId/edit" element={<CampaignEditorPage />} />
          <Route path="flows" element={<FlowsPage />} />
          <Route path="flows/:flowId" element={<FlowBuilderPage />} />
          <Route path="flows/:flowId/enrolments" element={<EnrolmentsPage />} />
          <Route path="templates" element={<TemplatesPage />} />
          <Route path="templates/new" element={<TemplateEditorPage />} />
          <Route path="templates/images" element={<ImagesPage />} />
          <Route path="templates/:templateId" element={<TemplateEditorPage />} />
          <Route path="outbox" element={<OutboxPage />} />
          <Route path="outbox/:messageId" element={<OutboxMessagePage />} />
          <Route path="messages" element={<MessagesPage />} />
          <Route path="messages/:messageId" element={<MessagePage />} />
          <Route path="get-started" element={<GetStartedPage />} />
          <Route path="settings" element={<SettingsLayout />}>
            <Route index element={<Navigate to="organization" replace />} />
            <Route path="organization" element={<OrganizationSettings />} />
            <Route path="api-keys" element={<ApiKeysSettings />} />
            <Route path="rate-limits" element={<RateLimitsSettings />} />
            <Route path="team" element={<TeamSettings />} />
            <Route path="email" element={<EmailSettings />} />
            <Route path="flow-webhooks" element={<FlowWebhookSettings />} />
            <Route path="sms" element={<SmsSettings />} />
            <Route path="sms-templates" element={<SmsTemplatesSettings />} />
            <Route path="retention" element={<RetentionSettings />} />
            <Route path="account" element={<AccountSettings />} />
          </Route>
          {AREAS.filter((area) => area.planned).map((area) => (
            <Route key={area.path} path={`${area.path.slice(1)}/*`} element={<PlannedAreaPage area={area} />} />
          ))}
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}
