import type { AssociateRef } from './webhook';

/**
 * How an associate is written on the wire, once for both doors: NetServer's Associate carrier
 * (RegisteredAssociate, UpdatedAssociate) and the 12.4 MDOListItem (ErrorAssociates), each as
 * its members in the WSDL's xs:sequence order. The service knows an associate's id and name only.
 */

export type CarrierMember = [name: string, value: string | number | boolean];

export function associateMembers(who: AssociateRef): CarrierMember[] {
  return [
    ['AssociateId', who.associateId], ['Name', who.name], ['PersonId', 0], ['Rank', 0], ['Tooltip', who.name], ['Type', 'InternalAssociate'],
    ['GroupIdx', 0], ['FullName', who.name], ['FormalName', who.name], ['Deleted', false], ['EjUserId', 0], ['UserName', who.name],
  ];
}

export function listItemMembers(who: AssociateRef): CarrierMember[] {
  return [
    ['Id', who.associateId], ['Name', who.name], ['ToolTip', who.name], ['Deleted', false], ['Rank', 0], ['Type', 'associate'],
    ['IconHint', ''], ['ColorBlock', 0], ['ExtraInfo', ''], ['StyleHint', ''], ['FullName', who.name],
  ];
}
