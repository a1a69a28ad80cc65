import { Button } from "@mantine/core";
import { Link } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState } from "../../components/States";

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState
        title="There is no page at this address"
        action={
          <Button component={Link} to="/profiles" variant="light">
            Go to Profiles
          </Button>
        }
      >
        Check the address, or pick an area from the navigation.
      </EmptyState>
    </>
  );
}
