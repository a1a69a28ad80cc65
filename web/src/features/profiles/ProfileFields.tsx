/** The built-in fields of a profile (identifiers, name, time zone, location), as New profile and
 * Edit profile show them. */
import { Autocomplete, Fieldset, SimpleGrid, TextInput } from "@mantine/core";
import type { GetInputPropsReturnType } from "@mantine/form";
import { timeZones } from "../../lib/timeZones";
import type { ProfileField } from "./form";

type InputProps = (field: ProfileField) => GetInputPropsReturnType;

export function ProfileFields({ inputProps }: { inputProps: InputProps }) {
  return (
    <>
      <Fieldset legend="Identifiers" variant="unstyled">
        <SimpleGrid cols={{ base: 1, sm: 3 }}>
          <TextInput label="Email" type="email" autoComplete="off" data-autofocus {...inputProps("email")} />
          <TextInput
            label="Phone"
            description="With its country code, or in the default region's format"
            autoComplete="off"
            {...inputProps("phone")}
          />
          <TextInput label="External id" description="Your own id for the person" autoComplete="off" {...inputProps("external_id")} />
        </SimpleGrid>
      </Fieldset>
      <Fieldset legend="Name and time zone" variant="unstyled">
        <SimpleGrid cols={{ base: 1, sm: 3 }}>
          <TextInput label="First name" autoComplete="off" {...inputProps("first_name")} />
          <TextInput label="Last name" autoComplete="off" {...inputProps("last_name")} />
          <Autocomplete
            label="Time zone"
            placeholder="Europe/Berlin"
            data={timeZones()}
            limit={50}
            {...inputProps("timezone")}
          />
        </SimpleGrid>
      </Fieldset>
      <Fieldset legend="Location" variant="unstyled">
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <TextInput label="Address" autoComplete="off" {...inputProps("address1")} />
          <TextInput label="Address, second line" autoComplete="off" {...inputProps("address2")} />
          <TextInput label="City" autoComplete="off" {...inputProps("city")} />
          <TextInput label="Postal code" autoComplete="off" {...inputProps("zip")} />
          <TextInput label="Region" description="State, province or county" autoComplete="off" {...inputProps("region")} />
          <TextInput label="Country" description="For example GB or United Kingdom" autoComplete="off" {...inputProps("country")} />
          <TextInput label="Latitude" inputMode="decimal" autoComplete="off" {...inputProps("latitude")} />
          <TextInput label="Longitude" inputMode="decimal" autoComplete="off" {...inputProps("longitude")} />
        </SimpleGrid>
      </Fieldset>
    </>
  );
}
