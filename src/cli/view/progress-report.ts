/**
 * Progress of one piece of server work, in bytes. The work calls `add` per chunk; whoever streams the result to the
 * page decides how often to look, so a chunk costs an addition, not a network write.
 */
export class WorkProgress {
  done = 0;
  detail = '';
  constructor(readonly total: number) {}

  add(bytes: number, detail?: string): void {
    this.done += bytes;
    if (detail !== undefined) this.detail = detail;
  }
}
