// A number that moves on every change NMI's informers report, so the server can tell whether anything
// a remembered token answer was decided from may have changed since (warm-answers.ts).
import type { Informer } from "../../../kube/informer.ts";
import type { KubeObjectLike } from "../../../kube/store.ts";

export class ChangeCounter {
  #version = 0;

  get version(): number {
    return this.#version;
  }

  bump(): void {
    this.#version++;
  }

  /** Every add, update and delete `informer` delivers moves the version. */
  countEventsOf<T extends KubeObjectLike>(informer: Informer<T>): void {
    const bump = () => this.bump();
    informer.on("add", bump).on("update", bump).on("delete", bump);
  }
}
