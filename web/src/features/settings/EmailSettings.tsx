/** Settings → Email (admins): where email goes, the default sender, the postal address, DKIM. */
import {
  Alert,
  Anchor,
  Button,
  Checkbox,
  Group,
  NumberInput,
  Paper,
  PasswordInput,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconInfoCircle, IconLock } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { api, call, type EmailSettings as Settings } from "../../api/client";
import { emailSettingsQuery, keys } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { CodeBlock } from "../../components/CodeBlock";
import { DateTime } from "../../components/DateTime";
import { EmailDelivery } from "./EmailProviders";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import {
  DEFAULT_PORTS,
  FIELD_ALIASES,
  FORM_FIELDS,
  toFormValues,
  toSettingsUpdate,
  validateSettings,
  type Security,
} from "./emailSettingsForm";

export function EmailSettings() {
  const isAdmin = useIsAdmin();
  const settings = useQuery({ ...emailSettingsQuery, enabled: isAdmin });
  if (!isAdmin) {
    return (
      <Alert color="gray" variant="light" icon={<IconLock aria-hidden />} title="Admins only" maw={640}>
        Only admins and owners can see and change how Herald sends email.
      </Alert>
    );
  }
  if (settings.isPending) return <LoadingState label="Loading the email settings…" />;
  if (settings.isError) return <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />;
  const sender = settings.data.default_from_email;
  return (
    <Stack gap="lg">
      <EmailDelivery senderDomain={sender ? sender.split("@").pop() ?? null : null} dkim={settings.data.dkim_record} />
      <EmailSettingsForm key={settings.dataUpdatedAt} settings={settings.data} />
    </Stack>
  );
}

function Section({ title, id, children, description }: { title: string; id: string; children: ReactNode; description?: ReactNode }) {
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby={id}>
      <Stack gap="sm">
        <div>
          <Title order={2} fz="h4" id={id}>
            {title}
          </Title>
          {description && (
            <Text size="sm" c="dimmed">
              {description}
            </Text>
          )}
        </div>
        {children}
      </Stack>
    </Paper>
  );
}

function EmailSettingsForm({ settings }: { settings: Settings }) {
  const queryClient = useQueryClient();
  const errors = useApiErrors(FORM_FIELDS, FIELD_ALIASES);
  const form = useForm({ initialValues: toFormValues(settings), validate: validateSettings });
  const save = useMutation({
    mutationFn: (values: typeof form.values) =>
      call(api.PUT("/api/email/settings", { body: toSettingsUpdate(values, settings) })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.emailSettings, saved);
      notifications.show({ color: "teal", message: "Email settings saved." });
    },
    onError: (error) => errors.show(form, error),
  });
  const values = form.values;
  const smtp = values.provider === "smtp";

  return (
    <form
      noValidate
      aria-label="Email settings"
      onSubmit={form.onSubmit((submitted) => {
        errors.clear();
        save.mutate(submitted);
      })}
    >
      <Stack gap="lg" maw={760}>
        <Text size="sm" c="dimmed">
          {settings.updated_at ? (
            <>
              Last changed <DateTime value={settings.updated_at} relative />.
            </>
          ) : (
            "Not set up yet: Herald keeps every email in the outbox."
          )}
        </Text>
        <FormErrors messages={errors.other} />

        <Section title="Provider" id="provider-title" description="Where Herald hands over the emails it sends.">
          <Radio.Group value={values.provider} onChange={(value) => form.setFieldValue("provider", value as "outbox" | "smtp")}>
            <Stack gap="xs">
              <Radio
                value="outbox"
                label="Outbox"
                description={
                  <>
                    Keep every email on this machine and show it under{" "}
                    <Anchor component={Link} to="/outbox" size="xs">
                      Outbox
                    </Anchor>
                    . Nothing reaches anyone: for trying Herald out.
                  </>
                }
              />
              <Radio value="smtp" label="SMTP" description="Send through a mail server: your own, or a service such as Amazon SES, Postmark or Mailgun over SMTP." />
            </Stack>
          </Radio.Group>
          {smtp && (
            <Stack gap="sm" pl="lg">
              <SimpleGrid cols={{ base: 1, sm: 3 }}>
                <TextInput label="Host" required placeholder="smtp.example.com" {...form.getInputProps("smtp_host")} />
                <Select
                  label="Security"
                  allowDeselect={false}
                  data={[
                    { value: "starttls", label: "STARTTLS (587)" },
                    { value: "ssl", label: "TLS (465)" },
                    { value: "none", label: "None (local relay)" },
                  ]}
                  {...form.getInputProps("smtp_security")}
                  onChange={(value) => {
                    const security = (value ?? "starttls") as Security;
                    // The usual port follows the security, unless someone chose another.
                    if (Object.values(DEFAULT_PORTS).includes(Number(values.smtp_port))) {
                      form.setFieldValue("smtp_port", DEFAULT_PORTS[security]);
                    }
                    form.setFieldValue("smtp_security", security);
                  }}
                />
                <NumberInput label="Port" min={1} max={65535} allowDecimal={false} {...form.getInputProps("smtp_port")} />
              </SimpleGrid>
              <SimpleGrid cols={{ base: 1, sm: 2 }}>
                <TextInput label="Username" autoComplete="off" {...form.getInputProps("smtp_username")} />
                <PasswordInput
                  label="Password"
                  autoComplete="new-password"
                  description={
                    settings.smtp?.password_set
                      ? "A password is stored. Leave blank to keep it."
                      : "Stored encrypted; never shown again."
                  }
                  placeholder={settings.smtp?.password_set ? "Leave blank to keep the stored password" : undefined}
                  {...form.getInputProps("smtp_password")}
                />
              </SimpleGrid>
              <Checkbox
                label="Verify the server's TLS certificate"
                description="Turn off only for a server on your own network with a self-signed certificate."
                {...form.getInputProps("smtp_verify_certificate", { type: "checkbox" })}
              />
            </Stack>
          )}
        </Section>

        <Section
          title="Default sender"
          id="sender-title"
          description="Used when a template does not name its own sender."
        >
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <TextInput label="From name" placeholder="Acme" {...form.getInputProps("default_from_name")} />
            <TextInput label="From email" type="email" placeholder="hello@example.com" {...form.getInputProps("default_from_email")} />
            <TextInput label="Reply-to" type="email" placeholder="Optional" {...form.getInputProps("default_reply_to")} />
          </SimpleGrid>
        </Section>

        <Section title="Address for marketing email" id="postal-title">
          <Textarea
            label="Postal address"
            description="Required for marketing email: the law (CAN-SPAM) and the large mailbox providers ask that every marketing email shows the sender's postal address. Marketing templates include it with {{ organization.postal_address }}."
            autosize
            minRows={2}
            maxRows={6}
            maxLength={1000}
            placeholder="Acme Inc., 1 Main Street, Springfield, IL 62701, USA"
            {...form.getInputProps("postal_address")}
          />
          {!values.postal_address.trim() && (
            <Alert color="yellow" variant="light" icon={<IconInfoCircle aria-hidden />} p="xs">
              <Text size="sm">Set it before sending marketing email: until then, its footer shows no address.</Text>
            </Alert>
          )}
        </Section>

        <Section
          title="DKIM signing"
          id="dkim-title"
          description="Signing proves to mailbox providers that your domain sent the email, so it is not taken for spam. Publish the DNS record below at your domain's DNS host."
        >
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Domain" placeholder="example.com" disabled={values.dkim_remove} {...form.getInputProps("dkim_domain")} />
            <TextInput label="Selector" placeholder="herald1" disabled={values.dkim_remove} {...form.getInputProps("dkim_selector")} />
          </SimpleGrid>
          <Textarea
            label="Private key (PEM)"
            description={
              settings.dkim_key_set
                ? "A key is stored. Leave blank to keep it; paste a new one to replace it."
                : "An RSA private key, for example from: openssl genrsa 2048. Stored encrypted; never shown again."
            }
            placeholder={settings.dkim_key_set ? "Leave blank to keep the stored key" : "-----BEGIN PRIVATE KEY-----"}
            autosize
            minRows={3}
            maxRows={12}
            spellCheck={false}
            autoComplete="off"
            disabled={values.dkim_remove}
            styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 12 } }}
            {...form.getInputProps("dkim_private_key")}
          />
          {settings.dkim_key_set && (
            <Checkbox
              label="Stop signing with DKIM (removes the key, domain and selector)"
              {...form.getInputProps("dkim_remove", { type: "checkbox" })}
            />
          )}
          {settings.dkim_record && (
            <Stack gap="xs" data-testid="dkim-record">
              <Text size="sm" fw={600}>
                DNS record to publish ({settings.dkim_record.type})
              </Text>
              <CodeBlock code={settings.dkim_record.name} label="DKIM record name" caption="Name (host)" />
              <CodeBlock code={settings.dkim_record.value} label="DKIM record value" caption="Value (TXT)" />
            </Stack>
          )}
        </Section>

        <Group>
          <Button type="submit" loading={save.isPending} disabled={!form.isDirty()}>
            Save email settings
          </Button>
          {form.isDirty() && (
            <Button variant="default" onClick={() => form.reset()}>
              Discard changes
            </Button>
          )}
        </Group>
      </Stack>
    </form>
  );
}
