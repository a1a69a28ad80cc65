import { Anchor } from "@mantine/core";
import { describeProblem, type Problem } from "./problems";

/** A field's problems, one a line; in the body each position is a button that goes there. */
export function ProblemLines({ problems, onGoTo }: { problems: Problem[]; onGoTo?: (problem: Problem) => void }) {
  return (
    <>
      {problems.map((problem, index) => (
        <span key={index} style={{ display: "block" }} data-testid="template-problem">
          {problem.line !== null && onGoTo ? (
            <>
              <Anchor component="button" type="button" size="xs" c="red" td="underline" onClick={() => onGoTo(problem)}>
                {problem.column === null ? `Line ${problem.line}` : `Line ${problem.line}, column ${problem.column}`}
              </Anchor>
              : {problem.message}
            </>
          ) : (
            describeProblem(problem)
          )}
        </span>
      ))}
    </>
  );
}
