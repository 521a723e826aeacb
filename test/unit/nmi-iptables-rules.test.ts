import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  actionArgs,
  type ChainAction,
  chainLines,
  desiredChains,
  dnatTargetIp,
  expectedChainLines,
  type InterceptionTarget,
  interceptionChain,
  LOCALNET_GUARD,
  needsRouteLocalnet,
  normaliseListing,
  OWNED_CHAINS,
  planChain,
} from "../../src/roles/nmi/iptables-rules.ts";

const DEFAULT: InterceptionTarget = {
  metadataIp: "169.254.169.254",
  metadataPort: 80,
  targetIp: "127.0.0.1",
  targetPort: 2579,
};
const NAT = interceptionChain(DEFAULT);
const ORIGINAL_LISTING = `-N aad-metadata
-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:2579
-A aad-metadata -j RETURN
`;

describe("expected chain", () => {
  test("default config renders the original's three lines exactly", () => {
    expect(expectedChainLines(DEFAULT)).toEqual(normaliseListing(ORIGINAL_LISTING));
  });

  test("metadata address and listener are rendered from the config", () => {
    const lines = expectedChainLines({
      metadataIp: "10.0.0.9",
      metadataPort: 8080,
      targetIp: "10.1.1.1",
      targetPort: 9,
    });
    expect(lines[1]).toBe(
      "-A aad-metadata ! -s 127.0.0.1/32 -d 10.0.0.9/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.1.1:9",
    );
  });

  test("loopback and wildcard listeners are targeted at 127.0.0.1, which needs route_localnet", () => {
    for (const listen of ["127.0.0.1", "0.0.0.0", "127.0.0.2"]) {
      expect(dnatTargetIp(listen)).toBe("127.0.0.1");
    }
    expect(needsRouteLocalnet("127.0.0.1")).toBe(true);
  });

  test("a node address listener is targeted directly, without route_localnet", () => {
    expect(dnatTargetIp("10.240.0.4")).toBe("10.240.0.4");
    expect(needsRouteLocalnet("10.240.0.4")).toBe(false);
  });
});

describe("planChain", () => {
  test("the correct chain with its jump needs nothing", () => {
    const plan = planChain({ chainListing: ORIGINAL_LISTING, jumpPresent: true }, NAT);
    expect(plan.actions).toEqual([]);
    expect(plan.rewritesChain).toBe(false);
  });

  test("whitespace differences in the listing are not a mismatch", () => {
    const spaced = ORIGINAL_LISTING.replaceAll(" ", "  ").replace("\n", "\r\n\n");
    expect(planChain({ chainListing: spaced, jumpPresent: true }, NAT).actions).toEqual([]);
  });

  test("a missing chain is created, filled and jumped to, in that order", () => {
    const plan = planChain({ chainListing: null, jumpPresent: false }, NAT);
    expect(plan.actions.map((action) => actionArgs(action, NAT))).toEqual([
      ["-N", "aad-metadata"],
      ["-A", "aad-metadata", ...normaliseListing(ORIGINAL_LISTING)[1]!.split(" ").slice(2)],
      ["-A", "aad-metadata", "-j", "RETURN"],
      ["-I", "PREROUTING", "1", "-j", "aad-metadata"],
    ]);
  });

  test("a flushed chain is refilled without recreating it", () => {
    const plan = planChain({ chainListing: "-N aad-metadata\n", jumpPresent: true }, NAT);
    expect(plan.rewritesChain).toBe(true);
    expect(plan.actions.map((a) => a.kind)).toEqual(["flush-chain", "append-rule", "append-rule"]);
  });

  test("an edited rule (other target) makes the chain be rewritten", () => {
    const edited = ORIGINAL_LISTING.replace("127.0.0.1:2579", "127.0.0.1:9999");
    const plan = planChain({ chainListing: edited, jumpPresent: true }, NAT);
    expect(plan.actions[0]).toEqual({ kind: "flush-chain" });
  });

  test("a missing jump alone is re-inserted at position 1", () => {
    const plan = planChain({ chainListing: ORIGINAL_LISTING, jumpPresent: false }, NAT);
    expect(plan.actions).toEqual([{ kind: "insert-jump" }]);
  });

  test("property: applying the plan to any listing yields exactly the expected chain", () => {
    const line = fc.oneof(
      fc.constantFrom(...normaliseListing(ORIGINAL_LISTING)),
      fc.string({ maxLength: 30 }).map((s) => `-A aad-metadata ${s}`),
    );
    fc.assert(
      fc.property(fc.option(fc.array(line, { maxLength: 5 })), fc.boolean(), (lines, jump) => {
        const listing = lines === null ? null : lines.join("\n");
        const plan = planChain({ chainListing: listing, jumpPresent: jump }, NAT);
        // Simulate iptables on the chain contents.
        let chain: string[] | null = listing === null ? null : normaliseListing(listing);
        let jumped = jump;
        for (const action of plan.actions as ChainAction[]) {
          const args = actionArgs(action, NAT);
          if (action.kind === "create-chain") chain = ["-N aad-metadata"];
          else if (action.kind === "flush-chain") chain = ["-N aad-metadata"];
          else if (action.kind === "append-rule") chain!.push(args.join(" "));
          else jumped = true;
        }
        expect(chain).toEqual(expectedChainLines(DEFAULT));
        expect(jumped).toBe(true);
        // And the result needs no further action.
        expect(planChain({ chainListing: chain!.join("\n"), jumpPresent: true }, NAT).actions).toEqual([]);
      }),
    );
  });
});

describe("localnet guard (CVE-2020-8558)", () => {
  /** What `iptables -t filter -S aad-metadata-localnet` prints with iptables-nft and iptables-legacy 1.8. */
  const GUARD_LISTING = `-N aad-metadata-localnet
-A aad-metadata-localnet ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
`;

  test("renders kube-proxy's rule in NMI's own filter chain, jumped to from INPUT", () => {
    expect(chainLines(LOCALNET_GUARD)).toEqual(normaliseListing(GUARD_LISTING));
    expect(LOCALNET_GUARD.table).toBe("filter");
    const plan = planChain({ chainListing: null, jumpPresent: false }, LOCALNET_GUARD);
    expect(plan.actions.map((action) => actionArgs(action, LOCALNET_GUARD))).toEqual([
      ["-N", "aad-metadata-localnet"],
      ["-A", "aad-metadata-localnet", ...normaliseListing(GUARD_LISTING)[1]!.split(" ").slice(2)],
      ["-I", "INPUT", "1", "-j", "aad-metadata-localnet"],
    ]);
    expect(planChain({ chainListing: GUARD_LISTING, jumpPresent: true }, LOCALNET_GUARD).actions).toEqual([]);
  });

  test("is kept, after the interception, whenever the DNAT target is loopback (route_localnet)", () => {
    expect(desiredChains(DEFAULT).map((c) => `${c.table}/${c.chain}`)).toEqual([
      "nat/aad-metadata",
      "filter/aad-metadata-localnet",
    ]);
  });

  test("is not needed for a node-address target", () => {
    expect(desiredChains({ ...DEFAULT, targetIp: "10.240.0.4" }).map((c) => c.chain)).toEqual(["aad-metadata"]);
  });

  test("uninstall covers both chains", () => {
    expect(OWNED_CHAINS.map((c) => `${c.table}/${c.chain}/${c.jumpFrom}`)).toEqual([
      "nat/aad-metadata/PREROUTING",
      "filter/aad-metadata-localnet/INPUT",
    ]);
  });
});
