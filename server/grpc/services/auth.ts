// etcd's Auth service as a cluster without users answers it: authentication is not enabled, no
// user or role exists, disabling is a no-op. Creating users or roles is refused as unimplemented
// (netcd has no auth store yet) rather than accepted and forgotten.

import { status } from '@grpc/grpc-js';
import type { Member } from '../../api.js';
import { headerOut } from '../convert.js';
import { etcdError, RpcError } from '../errors.js';
import { unary } from '../rpc.js';
import type { WireHeader, WireHeaderOnly, WireNamedRequest } from '../wire-types.js';

const NOT_SUPPORTED = 'netcd: users and roles are not supported yet';

export function authService(member: Member) {
  const header = (): WireHeader => headerOut(member.header());
  const fail = (err: RpcError) =>
    unary<WireNamedRequest, WireHeaderOnly>(async () => {
      throw err;
    });
  return {
    // etcd refuses to enable authentication while there is no root user.
    AuthEnable: fail(etcdError('ROOT_USER_NOT_EXIST')),
    AuthDisable: unary<WireNamedRequest, WireHeaderOnly>(async () => ({ header: header() })),
    Authenticate: fail(etcdError('AUTH_NOT_ENABLED')),

    UserAdd: unary<WireNamedRequest, WireHeaderOnly>(async (req) => {
      if ((req.name ?? '') === '') throw etcdError('USER_EMPTY');
      throw new RpcError(status.UNIMPLEMENTED, NOT_SUPPORTED);
    }),
    UserGet: fail(etcdError('USER_NOT_FOUND')),
    UserList: unary<WireNamedRequest, WireHeaderOnly & { users: string[] }>(async () => ({
      header: header(),
      users: [],
    })),
    UserDelete: fail(etcdError('USER_NOT_FOUND')),
    UserChangePassword: fail(etcdError('USER_NOT_FOUND')),
    UserGrantRole: fail(etcdError('USER_NOT_FOUND')),
    UserRevokeRole: fail(etcdError('USER_NOT_FOUND')),

    RoleAdd: unary<WireNamedRequest, WireHeaderOnly>(async (req) => {
      if ((req.name ?? '') === '') throw etcdError('ROLE_EMPTY');
      throw new RpcError(status.UNIMPLEMENTED, NOT_SUPPORTED);
    }),
    RoleGet: fail(etcdError('ROLE_NOT_FOUND')),
    RoleList: unary<WireNamedRequest, WireHeaderOnly & { roles: string[] }>(async () => ({
      header: header(),
      roles: [],
    })),
    RoleDelete: fail(etcdError('ROLE_NOT_FOUND')),
    RoleGrantPermission: fail(etcdError('ROLE_NOT_FOUND')),
    RoleRevokePermission: fail(etcdError('ROLE_NOT_FOUND')),
  };
}
