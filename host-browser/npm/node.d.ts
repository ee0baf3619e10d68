export * from "./index.js";
import type { Fragment, BlobOptions } from "./index.js";

export interface PackageFilesOptions extends BlobOptions {
  /** Folder the group folder is created in. */
  targetFolder: string;
  /** Name of the presentation's folder. */
  groupName: string;
}

/** `smoothcast package` in Node: files from disk into targetFolder/groupName. */
export function packageFiles(
  inputs: string | { path: string; bitrate?: number } | (string | { path: string; bitrate?: number })[],
  options: PackageFilesOptions,
): Promise<Omit<Fragment, "type" | "data">[]>;
