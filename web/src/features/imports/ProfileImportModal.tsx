/** Import profiles: pick a CSV file, say which Herald field each column feeds, upload. */
import { Button, FileInput, Group, Modal, ScrollArea, Select, Stack, Table, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFileTypeCsv } from "@tabler/icons-react";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../../api/client";
import { mapFieldErrors } from "../../api/errors";
import { FormErrors } from "../../components/FormErrors";
import { DESCRIPTIVE_FIELDS, IDENTIFIER_FIELDS, LOCATION_FIELDS } from "../../lib/profileFields";
import { fieldLabel } from "../segments/definition";
import {
  automaticFields,
  choiceFor,
  CsvHeadError,
  CUSTOM_PROPERTY,
  decodeHead,
  fieldOf,
  hasIdentifier,
  HEAD_BYTES,
  IGNORE,
  mappingFor,
  PROPERTIES,
  readCsvHead,
  repeatedColumns,
  type ColumnChoice,
  type CsvHead,
} from "./csvHeader";
import { uploadForm, type UploadDialogProps } from "./upload";

/** The choices that are not a built-in field (those are labelled as in the segment builder). */
const OTHER_LABELS: Readonly<Record<string, string>> = {
  [CUSTOM_PROPERTY]: "Custom property",
  [PROPERTIES]: "Custom properties (a JSON object)",
  [IGNORE]: "Do not import",
};

const option = (value: string) => ({ value, label: OTHER_LABELS[value] ?? fieldLabel(value) });
const FIELD_OPTIONS = [
  { group: "Identifiers", items: IDENTIFIER_FIELDS.map(option) },
  { group: "Person", items: DESCRIPTIVE_FIELDS.map(option) },
  { group: "Location", items: LOCATION_FIELDS.map(option) },
  { group: "Other", items: [CUSTOM_PROPERTY, PROPERTIES, IGNORE].map(option) },
];

interface Picked {
  file: File;
  head: CsvHead;
  choices: ColumnChoice[];
}

/** The column's name as the form shows it. */
function columnLabel(column: string): string {
  return column || "(unnamed column)";
}

async function readHead(file: File): Promise<CsvHead> {
  const complete = file.size <= HEAD_BYTES;
  const bytes = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  return readCsvHead(decodeHead(bytes, complete), complete);
}

export function ProfileImportModal({ opened, onClose, onUploaded }: UploadDialogProps) {
  const [picked, setPicked] = useState<Picked | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  // Problems by column index (a property without a name, or what the server said about the column).
  const [columnErrors, setColumnErrors] = useState<Record<number, string>>({});
  const [other, setOther] = useState<string[]>([]);

  const reset = () => {
    setPicked(null);
    setFileError(null);
    setColumnErrors({});
    setOther([]);
  };
  const close = () => {
    reset();
    onClose();
  };

  const pick = async (file: File | null) => {
    reset();
    if (!file) return;
    try {
      const head = await readHead(file);
      setPicked({ file, head, choices: automaticFields(head.columns).map(choiceFor) });
    } catch (error) {
      setFileError(error instanceof CsvHeadError ? error.message : "This file could not be read.");
    }
  };

  const upload = useMutation({
    mutationFn: ({ file, mapping }: { file: File; mapping: Record<string, string> }) => {
      const form = uploadForm(file, { mapping: JSON.stringify(mapping) });
      // The typed body stands for the parts; the form data is what is sent.
      return call(
        api.POST("/api/imports/profiles", { body: { file: file.name, mapping: null }, bodySerializer: () => form }),
      );
    },
    onSuccess: (_job, { file }) => {
      notifications.show({ color: "teal", message: `Importing ${file.name}. Follow its progress in the list.` });
      onUploaded();
      close();
    },
    onError: (error) => {
      const columns = picked?.head.columns ?? [];
      const fields = columns.map((column) => `mapping.${column}`);
      const mapped = mapFieldErrors(error, [...fields, "file", "mapping"]);
      const byColumn: Record<number, string> = {};
      columns.forEach((column, index) => {
        const reason = mapped.byField[`mapping.${column}`];
        if (reason !== undefined && !(index in byColumn)) byColumn[index] = reason;
      });
      setColumnErrors(byColumn);
      setFileError(mapped.byField.file ?? null);
      // About the mapping as a whole: too many custom properties, no identifier column.
      setOther([...(mapped.byField.mapping ? [mapped.byField.mapping] : []), ...mapped.other]);
    },
  });

  const choose = (index: number, choice: ColumnChoice) => {
    if (!picked) return;
    setPicked({ ...picked, choices: picked.choices.map((c, i) => (i === index ? choice : c)) });
    setColumnErrors(({ [index]: _dropped, ...rest }) => rest);
    setOther([]);
  };

  const fields = picked?.choices.map(fieldOf) ?? [];
  const identified = hasIdentifier(fields);
  const submit = () => {
    if (!picked) {
      setFileError("Pick a CSV file.");
      return;
    }
    const unnamed: Record<number, string> = {};
    picked.choices.forEach((choice, index) => {
      if (choice.field === CUSTOM_PROPERTY && !choice.property.trim()) unnamed[index] = "Name the property.";
    });
    setColumnErrors(unnamed);
    setOther([]);
    if (Object.keys(unnamed).length === 0) {
      upload.mutate({ file: picked.file, mapping: mappingFor(picked.head.columns, picked.choices) });
    }
  };

  return (
    <Modal opened={opened} onClose={close} title="Import profiles from CSV" size="xl" centered>
      <form
        noValidate
        aria-label="Import profiles"
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <Stack>
          <FileInput
            label="CSV file"
            description="UTF-8, with the column names in the first row; commas, semicolons or tabs between cells. Each row creates or updates the profile its email, phone or external id names; empty cells change nothing."
            placeholder="Pick a file"
            accept=".csv,.tsv,.txt,text/csv,text/tab-separated-values"
            leftSection={<IconFileTypeCsv size={16} aria-hidden />}
            clearable
            value={picked?.file ?? null}
            error={fileError}
            onChange={(file) => void pick(file)}
          />
          {picked && (
            <ColumnsTable
              head={picked.head}
              choices={picked.choices}
              errors={columnErrors}
              onChoose={choose}
            />
          )}
          {picked && !identified && (
            <Text size="sm" c="red" role="alert">
              No column is imported as email, phone or external id: every row needs one of them to find its profile.
            </Text>
          )}
          <FormErrors messages={other} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={upload.isPending} disabled={picked !== null && !identified}>
              Import profiles
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function ColumnsTable({
  head,
  choices,
  errors,
  onChoose,
}: {
  head: CsvHead;
  choices: readonly ColumnChoice[];
  errors: Readonly<Record<number, string>>;
  onChoose: (index: number, choice: ColumnChoice) => void;
}) {
  const repeated = repeatedColumns(head.columns);
  return (
    <Stack gap="xs">
      <Text size="sm">
        {head.columns.length === 1 ? "1 column" : `${head.columns.length} columns`}. Choose what each one becomes in
        Herald; a column named like a field goes to that field, any other to a custom property of the same name.
      </Text>
      <ScrollArea.Autosize mah="50vh" type="auto">
        <Table verticalSpacing="xs" aria-label="Columns" stickyHeader>
          <Table.Thead>
            <Table.Tr>
              <Table.Th w="35%">Column and sample values</Table.Th>
              <Table.Th>Imported as</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {head.columns.map((column, index) => {
              const choice = choices[index] ?? { field: IGNORE, property: "" };
              const label = columnLabel(column);
              const samples = head.samples.map((row) => row[index] ?? "").filter((value) => value.trim() !== "");
              const isRepeated = repeated.has(column);
              return (
                <Table.Tr key={index}>
                  <Table.Td style={{ verticalAlign: "top" }}>
                    <Text size="sm" fw={500} style={{ overflowWrap: "anywhere" }}>
                      {label}
                    </Text>
                    {samples.length > 0 ? (
                      samples.map((value, row) => (
                        <Text key={row} size="xs" c="dimmed" truncate="end" maw={260} title={value}>
                          {value}
                        </Text>
                      ))
                    ) : (
                      <Text size="xs" c="dimmed" fs="italic">
                        empty in the first rows
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td style={{ verticalAlign: "top" }}>
                    <Group align="flex-start" gap="xs" wrap="nowrap">
                      <Select
                        aria-label={`Field for ${label}`}
                        w={250}
                        allowDeselect={false}
                        data={FIELD_OPTIONS}
                        value={choice.field}
                        disabled={isRepeated}
                        description={
                          isRepeated ? "The header names this column more than once: Herald maps it by its name." : undefined
                        }
                        error={choice.field === CUSTOM_PROPERTY ? undefined : errors[index]}
                        onChange={(value) =>
                          onChoose(index, {
                            field: value ?? IGNORE,
                            property: value === CUSTOM_PROPERTY ? choice.property || column : choice.property,
                          })
                        }
                      />
                      {choice.field === CUSTOM_PROPERTY && (
                        <TextInput
                          aria-label={`Property name for ${label}`}
                          placeholder="Property name"
                          style={{ flex: 1 }}
                          disabled={isRepeated}
                          value={choice.property}
                          error={errors[index]}
                          onChange={(event) => onChoose(index, { ...choice, property: event.currentTarget.value })}
                        />
                      )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </ScrollArea.Autosize>
    </Stack>
  );
}
