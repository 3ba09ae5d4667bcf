/** One definition for every server (libs/contracts, push-api-params.ts). */
export { problemsOf } from '@borealis/contracts';
