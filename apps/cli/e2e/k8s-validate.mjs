// Validates Kubernetes objects (a JSON array on stdin) against the Kubernetes JSON schemas of the
// `kubernetes-models` package, offline. Prints a JSON array of {kind, name, error}; objects of API
// groups the package does not know (Strimzi's KafkaTopic) are reported with error "no schema".
// A separate Node process because the package is ESM-only and Jest runs CommonJS.
let input = '';
for await (const chunk of process.stdin) input += chunk;
const objects = JSON.parse(input);
const problems = [];
for (const object of objects) {
  const where = { kind: object.kind, name: object.metadata?.name };
  const group = object.apiVersion === 'v1' ? 'v1' : object.apiVersion;
  let models;
  try {
    models = await import(`kubernetes-models/${group}`);
  } catch {
    problems.push({ ...where, error: 'no schema' });
    continue;
  }
  const Model = models[object.kind];
  if (!Model) {
    problems.push({ ...where, error: 'no schema' });
    continue;
  }
  try {
    new Model(object).validate();
  } catch (err) {
    problems.push({ ...where, error: String(err.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(problems));
