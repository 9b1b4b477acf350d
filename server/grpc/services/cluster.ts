// etcd's Cluster service: membership reads and changes, answered with the whole membership after
// the change. Peer URLs are checked here the way etcd's gRPC layer checks them, so a malformed
// URL never reaches raft.

import type { Member, MemberInfo } from '../../api.js';
import { headerOut } from '../convert.js';
import { etcdError } from '../errors.js';
import { uint64 } from '../int64.js';
import { unary } from '../rpc.js';
import type {
  WireHeader,
  WireMember,
  WireMemberAddRequest,
  WireMemberIdRequest,
  WireMemberUpdateRequest,
} from '../wire-types.js';

interface WireMembersResponse {
  readonly header: WireHeader;
  readonly members: readonly WireMember[];
}

interface WireMemberAddResponse extends WireMembersResponse {
  readonly member: WireMember;
}

/** scheme://host:port and nothing more; host may be a bracketed IPv6 address. */
const MEMBER_URL = /^(?:https?|unixs?):\/\/(?:\[[0-9A-Fa-f:.%]+\]|[^/?#[\]:@]+):\d+$/;

/** etcd's rules for member URLs: a known scheme, host and port, no path. */
export function checkPeerURLs(urls: readonly string[]): string[] {
  for (const url of urls) if (!MEMBER_URL.test(url)) throw etcdError('MEMBER_BAD_URLS');
  return [...urls];
}

export function memberOut(m: MemberInfo): WireMember {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export function clusterService(member: Member) {
  const membership = async (signal: AbortSignal): Promise<WireMembersResponse> => {
    const members = await member.members({ signal });
    // etcd's cluster service fills the header without a revision.
    return { header: headerOut(member.header(), 0), members: members.map(memberOut) };
  };
  return {
    MemberAdd: unary<WireMemberAddRequest, WireMemberAddResponse>(async (req, ctx) => {
      const added = await member.memberAdd(checkPeerURLs(req.peerURLs), req.isLearner, ctx);
      return { ...(await membership(ctx.signal)), member: memberOut(added) };
    }),

    MemberRemove: unary<WireMemberIdRequest, WireMembersResponse>(async (req, ctx) => {
      await member.memberRemove(uint64(req.ID, 'ID'), ctx);
      return membership(ctx.signal);
    }),

    MemberUpdate: unary<WireMemberUpdateRequest, WireMembersResponse>(async (req, ctx) => {
      await member.memberUpdate(uint64(req.ID, 'ID'), checkPeerURLs(req.peerURLs), ctx);
      return membership(ctx.signal);
    }),

    MemberList: unary<Record<string, never>, WireMembersResponse>(async (_req, ctx) =>
      membership(ctx.signal),
    ),

    MemberPromote: unary<WireMemberIdRequest, WireMembersResponse>(async (req, ctx) => {
      await member.memberPromote(uint64(req.ID, 'ID'), ctx);
      return membership(ctx.signal);
    }),
  };
}
