import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { IndexedStore, objectKey } from "../../src/kube/store.ts";

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  tags: string[];
}

const obj = (name: string, rv: string, tags: string[] = [], namespace = "ns"): Obj => ({
  metadata: { name, namespace, resourceVersion: rv },
  tags,
});

describe("IndexedStore", () => {
  test("keys are <namespace>/<name>, or <name> when cluster-scoped", () => {
    expect(objectKey(obj("a", "1"))).toBe("ns/a");
    expect(objectKey(obj("node-1", "1", [], ""))).toBe("node-1");
  });

  test("upsert reports added, updated (with the old object) and unchanged for the same resourceVersion", () => {
    const store = new IndexedStore<Obj>();
    const a1 = obj("a", "1");
    expect(store.upsert(a1)).toEqual({ change: "added", obj: a1 });
    expect(store.upsert(obj("a", "1", ["different-but-same-rv"]))).toEqual({ change: "unchanged" });
    const a2 = obj("a", "2");
    expect(store.upsert(a2)).toEqual({ change: "updated", obj: a2, old: a1 });
    expect(store.get("ns/a")).toBe(a2);
  });

  test("objects without a resourceVersion always count as updated", () => {
    const store = new IndexedStore<Obj>();
    store.upsert({ metadata: { name: "a" }, tags: [] });
    expect(store.upsert({ metadata: { name: "a" }, tags: [] }).change).toBe("updated");
  });

  test("indexes follow adds, updates and removes; an index added later covers existing objects", () => {
    const store = new IndexedStore<Obj>();
    store.upsert(obj("a", "1", ["x", "y"]));
    store.addIndex("tag", (o) => o.tags);
    store.upsert(obj("b", "1", ["y"]));
    expect(store.byIndex("tag", "x").map(objectKey)).toEqual(["ns/a"]);
    expect(store.byIndex("tag", "y").map(objectKey).sort()).toEqual(["ns/a", "ns/b"]);
    store.upsert(obj("a", "2", ["z"]));
    expect(store.byIndex("tag", "x")).toEqual([]);
    expect(store.byIndex("tag", "y").map(objectKey)).toEqual(["ns/b"]);
    expect(store.byIndex("tag", "z").map(objectKey)).toEqual(["ns/a"]);
    store.remove("ns/b");
    expect(store.byIndex("tag", "y")).toEqual([]);
    expect(store.indexValues("tag")).toEqual(["z"]);
  });

  test("duplicate index values from one object index it once; unknown or duplicate index names throw", () => {
    const store = new IndexedStore<Obj>();
    store.addIndex("tag", (o) => o.tags);
    store.upsert(obj("a", "1", ["x", "x"]));
    expect(store.byIndex("tag", "x")).toHaveLength(1);
    expect(() => store.byIndex("nope", "x")).toThrow();
    expect(() => store.addIndex("tag", (o) => o.tags)).toThrow();
  });

  test("replaceAll reports adds, updates and deletes against a fresh list", () => {
    const store = new IndexedStore<Obj>();
    store.upsert(obj("keep", "1"));
    store.upsert(obj("change", "1"));
    store.upsert(obj("gone", "1"));
    const result = store.replaceAll([obj("keep", "1"), obj("change", "2"), obj("new", "1")]);
    expect(result.added.map(objectKey)).toEqual(["ns/new"]);
    expect(result.updated.map((u) => [objectKey(u.obj), u.old.metadata.resourceVersion])).toEqual([["ns/change", "1"]]);
    expect(result.deleted.map(objectKey)).toEqual(["ns/gone"]);
    expect(store.keys().sort()).toEqual(["ns/change", "ns/keep", "ns/new"]);
  });

  test("property: after every operation, each index and namespace read equals a recomputation from the objects", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("upsert" as const),
        name: fc.constantFrom("a", "b", "c", "d"),
        namespace: fc.constantFrom("ns1", "ns2"),
        rv: fc.nat(5),
        tags: fc.array(fc.constantFrom("p", "q", "r"), { maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant("remove" as const),
        name: fc.constantFrom("a", "b", "c", "d"),
        namespace: fc.constantFrom("ns1", "ns2"),
      }),
    );
    const byKey = (a: Obj, b: Obj) => objectKey(a).localeCompare(objectKey(b));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const store = new IndexedStore<Obj>();
        store.addIndex("tag", (o) => o.tags);
        // Reading after every write: a read caches what it hands out, so a stale cache would show here.
        for (const o of ops) {
          if (o.kind === "upsert") store.upsert(obj(o.name, String(o.rv), o.tags, o.namespace));
          else store.remove(`${o.namespace}/${o.name}`);
          for (const tag of ["p", "q", "r"]) {
            const expected = store
              .list()
              .filter((x) => x.tags.includes(tag))
              .sort(byKey);
            const actual = [...store.byIndex("tag", tag)].sort(byKey);
            expect(actual.length).toBe(expected.length);
            // The very objects now cached, not earlier versions of them.
            for (const [i, x] of actual.entries()) expect(x).toBe(expected[i] as Obj);
          }
          for (const namespace of ["ns1", "ns2"]) {
            const expected = store
              .list()
              .filter((x) => x.metadata.namespace === namespace)
              .sort(byKey);
            const actual = [...store.listIn(namespace)].sort(byKey);
            expect(actual.length).toBe(expected.length);
            for (const [i, x] of actual.entries()) expect(x).toBe(expected[i] as Obj);
          }
        }
      }),
    );
  });

  test("reads share one frozen array until a write touches it", () => {
    const store = new IndexedStore<Obj>();
    store.addIndex("tag", (o) => o.tags);
    store.upsert(obj("a", "1", ["p"]));
    store.upsert(obj("b", "1", ["q"]));
    const first = store.byIndex("tag", "p");
    expect(store.byIndex("tag", "p")).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => (first as Obj[]).push(obj("x", "1"))).toThrow();
    // A write to another index value leaves this one's array alone; a write to this one replaces it.
    store.upsert(obj("b", "2", ["q", "r"]));
    expect(store.byIndex("tag", "p")).toBe(first);
    store.upsert(obj("a", "2", ["p"]));
    expect(store.byIndex("tag", "p")).not.toBe(first);
    expect(store.byIndex("tag", "p")[0]?.metadata.resourceVersion).toBe("2");
    const inNamespace = store.listIn("ns");
    expect(store.listIn("ns")).toBe(inNamespace);
    store.remove("ns/b");
    expect(store.listIn("ns").map(objectKey)).toEqual(["ns/a"]);
    expect(Object.isFrozen(store.byIndex("tag", "none"))).toBe(true);
  });

  test("listIn returns exactly the objects of one namespace ('' for cluster-scoped)", () => {
    const store = new IndexedStore<Obj>();
    store.upsert(obj("a", "1", [], "ns1"));
    store.upsert(obj("b", "1", [], "ns2"));
    store.upsert(obj("c", "1", [], "ns1"));
    store.upsert({ metadata: { name: "cluster-wide" }, tags: [] });
    expect(store.listIn("ns1").map(objectKey).sort()).toEqual(["ns1/a", "ns1/c"]);
    expect(store.listIn("").map(objectKey)).toEqual(["cluster-wide"]);
    expect(store.listIn("none")).toEqual([]);
  });
});
