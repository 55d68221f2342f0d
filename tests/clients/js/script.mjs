// Calls Tailor with the AWS SDK for JavaScript v3 and prints one JSON line of results.
//
// Reads what `tailor serve` prints: AWS_ENDPOINT_URL_PERSONALIZE(_RUNTIME/_EVENTS),
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (through the SDK's own credential chain) and
// AWS_REGION (the JavaScript SDK reads no AWS_DEFAULT_REGION). Endpoints are passed to the
// constructors (one call relies on AWS_ENDPOINT_URL_PERSONALIZE alone). Run by
// tests/api/test_clients.py, which asserts on the output: each result is
// {ok, status, requestId} plus some of the answer's fields (ok) or {name, message} (an error).
import {
  CreateDatasetCommand,
  CreateDatasetGroupCommand,
  CreateEventTrackerCommand,
  CreateSchemaCommand,
  DescribeDatasetCommand,
  DescribeDatasetGroupCommand,
  ListRecipesCommand,
  PersonalizeClient,
} from "@aws-sdk/client-personalize";
import {
  PersonalizeEventsClient,
  PutEventsCommand,
} from "@aws-sdk/client-personalize-events";
import {
  GetRecommendationsCommand,
  PersonalizeRuntimeClient,
} from "@aws-sdk/client-personalize-runtime";

const env = process.env;
const common = { maxAttempts: 1 };
const control = (extra = {}) =>
  new PersonalizeClient({ ...common, endpoint: env.AWS_ENDPOINT_URL_PERSONALIZE, ...extra });
const runtime = (extra = {}) =>
  new PersonalizeRuntimeClient({
    ...common, endpoint: env.AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME, ...extra });
const events = (extra = {}) =>
  new PersonalizeEventsClient({
    ...common, endpoint: env.AWS_ENDPOINT_URL_PERSONALIZE_EVENTS, ...extra });
const wrongSecret = {
  credentials: {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: "not-the-secret-of-this-key",
  },
};
const badSessionToken = {
  credentials: {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    sessionToken: "a-token-this-key-does-not-have",
  },
};
const unknownKey = {
  credentials: { accessKeyId: "AKIANOSUCHKEY0000000", secretAccessKey: "whatever-secret" },
};

async function call(client, command, pick = () => ({})) {
  try {
    const out = await client.send(command);
    return {
      ok: true,
      status: out.$metadata.httpStatusCode,
      requestId: out.$metadata.requestId ?? null,
      ...pick(out),
    };
  } catch (err) {
    if (!err.$metadata) throw err; // not an answer from the server
    return {
      ok: false,
      name: err.name,
      message: err.message,
      status: err.$metadata.httpStatusCode,
      requestId: err.$metadata.requestId ?? null,
    };
  }
}

const results = {};
const personalize = control();
results.listRecipes = await call(personalize, new ListRecipesCommand({ maxResults: 5 }),
  (out) => ({ recipes: out.recipes.map((r) => r.name) }));
// No endpoint given: the SDK takes AWS_ENDPOINT_URL_PERSONALIZE itself, as an unmodified
// program would.
results.listRecipesEndpointFromEnv = await call(new PersonalizeClient(common),
  new ListRecipesCommand({ maxResults: 1 }), (out) => ({ recipes: out.recipes.length }));
const name = `js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
results.createDatasetGroup = await call(personalize, new CreateDatasetGroupCommand({ name }),
  (out) => ({ datasetGroupArn: out.datasetGroupArn }));
const groupArn = results.createDatasetGroup.datasetGroupArn ?? "";

async function untilCreated(command, pick) { // poll a Describe (at most ~10 s)
  let res;
  for (let tries = 0; tries < 200; tries++) {
    res = await call(personalize, command, pick);
    if (!res.ok || !["CREATE PENDING", "CREATE IN_PROGRESS"].includes(res.resourceStatus)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return res;
}

results.describeDatasetGroup = await untilCreated(
  new DescribeDatasetGroupCommand({ datasetGroupArn: groupArn }),
  (out) => ({ name: out.datasetGroup.name, datasetGroupArn: out.datasetGroup.datasetGroupArn,
              resourceStatus: out.datasetGroup.status }));
// PutEvents needs an Interactions dataset in the group.
const schema = JSON.stringify({
  type: "record", name: "Interactions", namespace: "com.amazonaws.personalize.schema",
  version: "1.0", fields: [{ name: "USER_ID", type: "string" },
                           { name: "ITEM_ID", type: "string" },
                           { name: "TIMESTAMP", type: "long" }] });
const schemaArn = (await call(personalize,
  new CreateSchemaCommand({ name: `${name}-schema`, schema }),
  (out) => ({ schemaArn: out.schemaArn }))).schemaArn;
const datasetArn = (await call(personalize, new CreateDatasetCommand({
  name: `${name}-interactions`, datasetGroupArn: groupArn, datasetType: "Interactions",
  schemaArn }), (out) => ({ datasetArn: out.datasetArn }))).datasetArn;
results.describeDataset = await untilCreated(new DescribeDatasetCommand({ datasetArn }),
  (out) => ({ resourceStatus: out.dataset.status }));
results.createEventTracker = await call(personalize,
  new CreateEventTrackerCommand({ name: `${name}-tracker`, datasetGroupArn: groupArn }),
  (out) => ({ trackingId: out.trackingId }));
// A body with non-ASCII text: signed and hashed as UTF-8 bytes.
results.putEvents = await call(events(), new PutEventsCommand({
  trackingId: results.createEventTracker.trackingId ?? "none",
  sessionId: "s1",
  userId: "u1",
  eventList: [{ eventType: "click", itemId: "crème-brûlée-€-日本", sentAt: new Date() }],
}));
// A campaign ARN in the caller's account and region that names no campaign.
const campaignArn = groupArn.replace(/:dataset-group\/.*$/, ":campaign/no-such-campaign");
const recommend = new GetRecommendationsCommand({ campaignArn, userId: "u1", numResults: 5 });
results.getRecommendations = await call(runtime(), recommend);
const unknownTracker = () => new PutEventsCommand({
  trackingId: "no-such-tracking-id",
  sessionId: "s1",
  userId: "u1",
  eventList: [{ eventType: "click", itemId: "i1", sentAt: new Date() }],
});
results.putEventsUnknownTracker = await call(events(), unknownTracker());
results.wrongSecretControl = await call(control(wrongSecret),
  new ListRecipesCommand({ maxResults: 5 }));
results.wrongSecretRuntime = await call(runtime(wrongSecret), recommend);
results.unknownKeyEvents = await call(events(unknownKey), unknownTracker());
results.badSessionTokenControl = await call(control(badSessionToken),
  new ListRecipesCommand({ maxResults: 1 }));
// A clock 20 minutes slow: the first call is refused as expired, the SDK reads the
// server's Date header, corrects its offset and retries once.
results.skewedClock = await call(
  control({ systemClockOffset: -20 * 60 * 1000, maxAttempts: 2 }),
  new ListRecipesCommand({ maxResults: 1 }),
  (out) => ({ attempts: out.$metadata.attempts, recipes: out.recipes.length }));

process.stdout.write(`${JSON.stringify(results)}\n`);
