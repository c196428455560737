package imserver

import "google.golang.org/protobuf/proto"

func (s *Server) getConversationInfo(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) getConversationInfoList(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) getUserConversationList(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) deleteConversation(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) markConversationRead(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) getReadIndexes(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) getCoreInfo(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) setCoreInfo(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) upsertCoreExt(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) getSettingInfo(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) setSettingInfo(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) upsertSettingExt(c *call) (proto.Message, error) { return nil, errNotServed(c) }

