// A unit of visible work: the CLI shows it as a spinner or a timestamped line (ui/progress.ts);
// use cases only name it and report progress through `update`.
export type Task = <T>(title: string, fn: (update: (text: string) => void) => Promise<T>) => Promise<T>;

/** A task that shows nothing (the controller, and checks run beside other work). */
export const silentTask: Task = (_title, fn) => fn(() => {});
