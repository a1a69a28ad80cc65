import { Button, Center, Code, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useDocumentTitle } from "@mantine/hooks";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { mapFieldErrors } from "../api/errors";
import { meQuery } from "../api/queries";
import { FormErrors } from "../components/FormErrors";
import { LoadingState } from "../components/States";
import { Logo } from "../shell/Logo";
import { useSignIn } from "./session";
import { safeNextPath } from "./next";

const FIELDS = ["email", "password"] as const;

export function SignInPage() {
  useDocumentTitle("Sign in · Herald");
  const [params] = useSearchParams();
  const next = safeNextPath(params.get("next"));
  const navigate = useNavigate();
  const me = useQuery(meQuery);
  const signIn = useSignIn();
  const [otherErrors, setOtherErrors] = useState<string[]>([]);
  const form = useForm({
    initialValues: { email: "", password: "" },
    validate: {
      email: (value) => (/^\S+@\S+$/.test(value.trim()) ? null : "Enter your email address"),
      password: (value) => (value ? null : "Enter your password"),
    },
  });

  if (me.isPending) return <LoadingState label="Loading Herald…" fullPage />;
  if (me.data) return <Navigate to={next} replace />;

  const submit = form.onSubmit((values) => {
    setOtherErrors([]);
    signIn.mutate(
      { email: values.email.trim(), password: values.password },
      {
        onSuccess: () => void navigate(next, { replace: true }),
        onError: (error) => {
          const mapped = mapFieldErrors(error, FIELDS);
          form.setErrors(mapped.byField);
          setOtherErrors(mapped.other);
        },
      },
    );
  });

  return (
    <Center mih="100vh" p="md" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" radius="md" w="100%" maw={400} component="main">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Logo />
            <div>
              <Title order={1} fz="h3">
                Sign in
              </Title>
              <Text size="sm" c="dimmed">
                On a new install, <Code>herald run</Code> printed the first account&apos;s email and
                password (they are also in <Code>first-run.txt</Code> in Herald&apos;s data directory).
              </Text>
            </div>
            <FormErrors messages={otherErrors} />
            <TextInput
              label="Email"
              type="email"
              autoComplete="username"
              required
              autoFocus
              {...form.getInputProps("email")}
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              {...form.getInputProps("password")}
            />
            <Button type="submit" loading={signIn.isPending} fullWidth>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
