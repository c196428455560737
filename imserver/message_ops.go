package imserver

import "google.golang.org/protobuf/proto"

func (s *Server) getMessageByID(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) deleteMessage(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) recallMessage(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) setMessageProperty(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) modifyMessageExt(c *call) (proto.Message, error) { return nil, errNotServed(c) }

