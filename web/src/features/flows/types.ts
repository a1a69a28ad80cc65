/** The flow API's types, taken from the generated client by request and response (not by schema
 * name: several flow models share a name with another domain's, and the generator renames those). */
import type { Schemas } from "../../api/client";

export type Flow = Schemas["Flow"];
export type FlowSummary = Schemas["FlowSummary"];
export type FlowStatus = Flow["status"];
export type TriggerType = Flow["trigger_type"];
export type FlowTemplate = Schemas["FlowTemplate"];
export type FlowResults = Schemas["FlowResults"];
export type StepResults = Schemas["StepResults"];
export type Enrolment = Schemas["Enrolment"];
export type EnrolmentDetail = Schemas["EnrolmentDetail"];
export type EnrolmentStatus = Enrolment["status"];
export type StepRun = EnrolmentDetail["history"][number];
export type FlowTestResult = Schemas["FlowTestResult"];

/** A definition as the builder edits it and the API takes it. */
export type FlowDefinition = Schemas["FlowCreate"]["definition"];
export type Trigger = FlowDefinition["trigger"];
export type Step = NonNullable<FlowDefinition["steps"]>[number];
export type StepType = Step["type"];
export type StepOf<T extends StepType> = Extract<Step, { type: T }>;
export type Reentry = NonNullable<FlowDefinition["reentry"]>;
export type Duration = StepOf<"wait">["timeout"];
export type DelayUnit = Duration["unit"];
export type Layout = NonNullable<Schemas["FlowUpdate"]["layout"]>;

/** The document the builder edits, undoes and saves. */
export interface FlowDocument {
  name: string;
  definition: FlowDefinition & { steps: Step[] };
  layout: Layout;
}

/** What the API sent back (its output shapes are the JSON it takes), ready to be edited. */
export function toDocument(flow: Pick<Flow, "name" | "draft" | "layout">): FlowDocument {
  const definition = flow.draft as unknown as FlowDefinition;
  return { name: flow.name, definition: { ...definition, steps: definition.steps ?? [] }, layout: flow.layout };
}

/** The email template a flow template's email steps name until one is chosen. */
export const NO_TEMPLATE = "00000000-0000-0000-0000-000000000000";
