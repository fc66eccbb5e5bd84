// Placeholder entry so the CDK stack can be built in parallel; replaced by the real handler in this change.
export const handler = async (): Promise<never> => {
  throw new Error('publish handler not implemented yet');
};
