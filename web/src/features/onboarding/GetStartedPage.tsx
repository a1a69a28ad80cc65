import { Anchor, Code, List, Paper, Stack, Title } from "@mantine/core";
import { Link } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { FirstEventPanel } from "./FirstEventPanel";

export function GetStartedPage() {
  return (
    <>
      <PageHeader
        title="Send your first event"
        description="Connect your website, app or backend: send an event, then find the person in Profiles."
      />
      <Stack gap="lg" maw={960}>
        <FirstEventPanel
          title="Snippets"
          intro="Run one of these snippets, or add the JavaScript one to your website."
        />
        <Paper withBorder p="lg" component="section" aria-labelledby="next-steps">
          <Title order={2} fz="h4" mb="sm" id="next-steps">
            Then
          </Title>
          <List spacing="xs" size="sm">
            <List.Item>
              See it arrive in{" "}
              <Anchor size="sm" component={Link} to="/events">
                Events
              </Anchor>
              , and the person in{" "}
              <Anchor size="sm" component={Link} to="/profiles">
                Profiles
              </Anchor>
              .
            </List.Item>
            <List.Item>
              On a website, call <Code>herald.identify(&#123;email&#125;)</Code> when a visitor signs in or
              subscribes: what they did before becomes part of their profile.
            </List.Item>
            <List.Item>
              For your backend, create a secret key in{" "}
              <Anchor size="sm" component={Link} to="/settings/api-keys">
                Settings → API keys
              </Anchor>{" "}
              and see the{" "}
              <Anchor size="sm" href="/docs" target="_blank">
                API documentation
              </Anchor>
              .
            </List.Item>
          </List>
        </Paper>
      </Stack>
    </>
  );
}
