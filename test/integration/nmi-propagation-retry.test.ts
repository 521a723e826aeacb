// IMDS answers "Identity not found" for a while after ARM put an identity on the scale set. The compiled
// NMI retries that answer for --identity-propagation-retry after the pod's record became Assigned, so the
// pod gets its token once IMDS knows the identity; past that window the pod gets the original's 403.
// MIC (compiled) assigns the identities through the ARM emulator; the IMDS emulator's propagation delay
// stands for the real propagation time. Pods are loopback source addresses.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeClaims } from "../../emulators/common/jwt.ts";
import type { ImdsEmulator } from "../../emulators/imds/index.ts";
import { startWorld, type World } from "../../emulators/world.ts";
import { compiledBinary } from "../support/compiled-binary.ts";
import { type MicProcess, startMic } from "../support/mic-process.ts";
import { getFrom, type NmiProcess, SHORT_ASSIGNMENT_WAIT, startNmi, tokenPath } from "./nmi-harness.ts";

const RESOURCE = "https://vault.azure.net";
const PROPAGATION_RETRY_MS = 2000;

let world: World;
let imds: ImdsEmulator;
let mic: MicProcess;
let nmi: NmiProcess;
let node = "";

/** IMDS's answers to token requests for one client id, in order. */
const imdsAnswers = (clientId: string) =>
  imds
    .requests()
    .filter((r) => r.path.includes("/oauth2/token") && r.query.client_id === clientId)
    .map((r) => r.status);

const recordOf = (pod: string) =>
  world.assignedIdentities("default").find((r) => (r.spec as { pod?: string }).pod === pod) as
    | { status?: { status?: string } }
    | undefined;

/** A new identity, binding and pod; returns the identity's client id. */
function boundPod(name: string, ip: string): string {
  world.createAzureIdentity(name);
  world.createAzureIdentityBinding(`${name}-binding`, { azureIdentity: name, selector: name });
  world.createPod(`${name}-pod`, { node, ip, binding: name });
  return world.identity(name).clientId;
}

beforeAll(async () => {
  const binary = compiledBinary();
  world = await startWorld({ identities: ["propagates", "never-propagates"] });
  node = world.nodes[0]!.name;
  imds = await world.startImdsFor(node);
  mic = await startMic(world, binary, { instance: "mic-propagation-test" });
  nmi = await startNmi(world, binary, {
    node,
    imdsUrl: imds.url,
    extraArgs: ["--identity-propagation-retry", `${PROPAGATION_RETRY_MS}ms`, ...SHORT_ASSIGNMENT_WAIT],
  });
  await nmi.waitForLog("informer caches synced");
}, 30_000);

afterAll(async () => {
  await nmi?.stop();
  await mic?.stop();
  await world?.stop();
});

describe("IMDS 'Identity not found' right after an assignment, compiled NMI", () => {
  test("propagation shorter than --identity-propagation-retry: the pod gets its token, not a 403", async () => {
    // IMDS knows the identity 1 s after ARM assigned it; NMI retries for 2 s after the record is Assigned.
    imds.setPropagationDelay(1000);
    const clientId = boundPod("propagates", "127.0.0.41");
    // Asked before MIC assigned anything: NMI holds the request until the record is Assigned, then asks IMDS.
    const answer = await getFrom("127.0.0.41", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(200);
    expect(decodeClaims(String(answer.json().access_token)).appid).toBe(clientId);
    expect(recordOf("propagates-pod")?.status?.status).toBe("Assigned");
    // IMDS did say "Identity not found" (400) first: the 200 came from NMI retrying it.
    const answers = imdsAnswers(clientId);
    expect(answers[0]).toBe(400);
    expect(answers.at(-1)).toBe(200);
    expect(answers.filter((status) => status === 200)).toHaveLength(1);
  }, 20_000);

  test("propagation longer than --identity-propagation-retry: the pod gets 403 'Identity not found' once the window is over", async () => {
    imds.setPropagationDelay(60_000);
    const clientId = boundPod("never-propagates", "127.0.0.42");
    const answer = await getFrom("127.0.0.42", nmi.port, tokenPath(RESOURCE));
    expect(answer.status).toBe(403);
    expect(String(answer.json().error_description)).toContain("Identity not found");
    expect(answer.json().access_token).toBeUndefined();
    // Retried (more than one IMDS request, all "Identity not found"), then given up within the window.
    const answers = imdsAnswers(clientId);
    expect(answers.length).toBeGreaterThan(1);
    expect(answers.every((status) => status === 400)).toBe(true);
    expect(recordOf("never-propagates-pod")?.status?.status).toBe("Assigned");
    // No retry is still running: IMDS hears nothing more about this identity.
    await Bun.sleep(300);
    expect(imdsAnswers(clientId)).toHaveLength(answers.length);
  }, 20_000);
});
