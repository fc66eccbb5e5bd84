/** The pipeline's own verdict on a selfie. The vendor's status is kept verbatim beside it. */
export const DECISIONS = ['VERIFIED', 'NOT_VERIFIED', 'REVIEW', 'REJECTED', 'FAILED'] as const;
export type Decision = (typeof DECISIONS)[number];

/** States before a decision. A selfie in a decision state is terminal and never sent to the vendor again. */
/** HELD: waiting for spend budget (the cap was reached); released when the cap is raised, never lost. */
export const IN_FLIGHT_STATES = ['RECEIVED', 'PROCESSING', 'HELD'] as const;
export type SelfieState = (typeof IN_FLIGHT_STATES)[number] | Decision;

export function isTerminal(state: string): state is Decision {
  return (DECISIONS as readonly string[]).includes(state);
}
